"""The diarization figures owed on a quiet machine, in one command (about 4-5 minutes on a quiet 2-core machine):
what ``--diarize`` adds to the wall time of transcribing a ~10-minute 4-speaker conversation (target <= +30 %),
diarization alone on it (real-time factor, target <= 0.05) and cold start (target <= 5 s).

    .venv/bin/python scripts/quiet_bench_diarize.py [--minutes 10] [--rounds 1]

Needs no server; it builds the conversation from the test clips and TTS (cached in bench-results/diarize-tts;
first run synthesizes ~2 minutes of espeak-ng/Piper speech). Kinds run in turn in every round, the order reversed
in even rounds (ABC CBA): plain transcription, with speakers (embeddings before each block is transcribed), with
speakers embedded on a thread of their own beside the transcription (``diarize.background``). Models are loaded
and warmed before timing. Wall and CPU seconds and the load average are printed for each run.
"""

from __future__ import annotations

import argparse
import os
import time

from habla import default_transcriber
from habla.audio.vad import speech_spans
from habla.config import load_settings
from habla.diarize.bench import cold_start_seconds
from habla.diarize.service import Diarizer
from habla.diarize.transcribe import transcribe_with_speakers
from long_conversation import add_long_conversation_arguments, long_conversation  # scripts/ is on sys.path

SAMPLE_RATE = 16000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_long_conversation_arguments(parser)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    wall, cpu = cold_start_seconds()
    print(f"cold start: {wall:.2f} s wall, {cpu:.2f} s CPU (target <= 5 s)", flush=True)
    talk = long_conversation(args)  # the same conversation as scripts/bench_diarize_overhead.py
    seconds = len(talk.audio) / SAMPLE_RATE
    settings = load_settings()
    transcriber = default_transcriber()
    diarizers = {"speakers": Diarizer.from_settings(settings, transcriber.store),
                 "speakers-background": Diarizer.from_settings(settings.model_copy(update={
                     "diarize": settings.diarize.model_copy(update={"background": True})}), transcriber.store)}
    options = transcriber.default_options(language="en")
    for diarizer in diarizers.values():  # load and warm every model
        transcribe_with_speakers(transcriber, diarizer, talk.audio[:SAMPLE_RATE * 20], options=options)

    speech = speech_spans(talk.audio)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = diarizers["speakers"].diarize(talk.audio, speech=speech)
    alone_wall, alone_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"diarization alone, {seconds / 60:.1f} min, VAD regions given: RTF {alone_wall / seconds:.4f} wall, "
          f"{alone_cpu / seconds:.4f} CPU (target <= 0.05); {len(result.speakers)} speakers for 4 "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)

    kinds = ["plain", *diarizers]
    totals = {kind: [0.0, 0.0] for kind in kinds}
    for round_ in range(args.rounds):
        for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            if kind == "plain":
                transcriber.transcribe(talk.audio, options=options)
            else:
                transcribe_with_speakers(transcriber, diarizers[kind], talk.audio, options=options)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            totals[kind][0] += wall
            totals[kind][1] += cpu
            print(f"round {round_ + 1} {kind}: wall {wall:.1f} s, CPU {cpu:.1f} s (load {os.getloadavg()[0]:.1f})",
                  flush=True)
    plain = totals["plain"]
    for kind in kinds[1:]:
        print(f"--diarize ({kind}) adds {totals[kind][0] / plain[0] - 1:+.1%} wall (target <= +30 %), "
              f"{totals[kind][1] / plain[1] - 1:+.1%} CPU; {seconds / 60:.1f} min, {args.rounds} round(s)")
    print(f"load average at end: {os.getloadavg()}; took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

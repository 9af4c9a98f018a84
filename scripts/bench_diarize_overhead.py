"""What --diarize adds to a transcription: a built 4-speaker conversation of about 10 minutes, transcribed plain and
with speakers, alternately, models warm. Wall and CPU seconds (CPU of the whole process, every thread): on a
shared machine the CPU figure is the one to compare. ``--hops`` compares embedding hops, ``--runtimes`` the
embedding runtimes, in the same run (every kind once per round, in turn).

    .venv/bin/python scripts/bench_diarize_overhead.py [--minutes 10] [--rounds 1] [--hops 0.75,1.0] [--words]
        [--runtimes onnx,torch]
"""

from __future__ import annotations

import argparse
import os
import time

from habla import default_transcriber
from habla.config import load_settings
from habla.diarize.service import Diarizer
from habla.diarize.transcribe import transcribe_with_speakers
from long_conversation import add_long_conversation_arguments, long_conversation  # scripts/ is on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_long_conversation_arguments(parser)
    parser.add_argument("--hops", help="comma-separated embedding hops in seconds (default: the setting)")
    parser.add_argument("--words", action="store_true", help="also time plain transcription with word timings "
                        "(which --diarize turns on), to split the overhead")
    parser.add_argument("--runtimes", help="comma-separated embedding runtimes, onnx and/or torch (default: the "
                        "setting)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    talk = long_conversation(args)
    seconds = len(talk.audio) / 16000
    transcriber = default_transcriber()
    settings = load_settings()
    hops = [float(h) for h in args.hops.split(",")] if args.hops else [settings.diarize.hop_seconds]
    runtimes = args.runtimes.split(",") if args.runtimes else [settings.diarize.runtime]
    diarizers = {}
    for runtime in runtimes:
        for hop in hops:
            tuned = settings.model_copy(update={"diarize": settings.diarize.model_copy(
                update={"hop_seconds": hop, "runtime": runtime})})
            diarizers[f"diarize {runtime} hop {hop}"] = Diarizer.from_settings(tuned, transcriber.store)
    options = transcriber.default_options(language="en")
    for diarizer in diarizers.values():  # load every model
        transcribe_with_speakers(transcriber, diarizer, talk.audio[:16000 * 20], options=options)
    kinds = ("plain", "words", *diarizers) if args.words else ("plain", *diarizers)
    totals = {kind: [0.0, 0.0] for kind in kinds}
    for _ in range(args.rounds):
        for kind in totals:
            wall, cpu = time.perf_counter(), time.process_time()
            if kind in ("plain", "words"):
                transcriber.transcribe(talk.audio, options=options.with_(word_timestamps=kind == "words"))
            else:
                transcribe_with_speakers(transcriber, diarizers[kind], talk.audio, options=options)
            totals[kind][0] += time.perf_counter() - wall
            totals[kind][1] += time.process_time() - cpu
            print(f"{kind}: wall {totals[kind][0]:.1f} s, CPU {totals[kind][1]:.1f} s (totals so far; load "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
    plain = totals["plain"]
    for kind in kinds[1:]:
        diar = totals[kind]
        print(f"{seconds / 60:.1f} min, {args.rounds} round(s), {kind}: adds {diar[0] / plain[0] - 1:+.0%} "
              f"wall, {diar[1] / plain[1] - 1:+.0%} CPU")


if __name__ == "__main__":
    main()

"""What --diarize adds to a transcription: a built 4-speaker conversation of about 10 minutes, transcribed plain and
with speakers, alternately, models warm. Wall and CPU seconds (CPU of the whole process, every thread): on a
shared machine the CPU figure is the one to compare.

    .venv/bin/python scripts/bench_diarize_overhead.py [--minutes 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from habla import default_diarizer, default_transcriber
from habla.diarize.corpus import Material, build, tts_synthesizer
from habla.diarize.transcribe import transcribe_with_speakers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path("../shared/testdata/speech"))
    parser.add_argument("--cache", type=Path, default=Path("bench-results/diarize-tts"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    turns = int(args.minutes * 60 / 4.3)  # utterances average about 4.3 s with their gaps
    talk = build(Material(args.testdata, tts_synthesizer(args.cache)), "long", 4, seed=99, half=1, turns=turns)
    seconds = len(talk.audio) / 16000
    transcriber, diarizer = default_transcriber(), default_diarizer()
    options = transcriber.default_options(language="en")
    transcribe_with_speakers(transcriber, diarizer, talk.audio[:16000 * 20], options=options)  # load both models
    totals = {"plain": [0.0, 0.0], "diarize": [0.0, 0.0]}
    for _ in range(args.rounds):
        for kind in ("plain", "diarize"):
            wall, cpu = time.perf_counter(), time.process_time()
            if kind == "plain":
                transcriber.transcribe(talk.audio, options=options)
            else:
                transcribe_with_speakers(transcriber, diarizer, talk.audio, options=options)
            totals[kind][0] += time.perf_counter() - wall
            totals[kind][1] += time.process_time() - cpu
            print(f"{kind}: wall {totals[kind][0]:.1f} s, CPU {totals[kind][1]:.1f} s", flush=True)
    plain, diar = totals["plain"], totals["diarize"]
    print(f"{seconds / 60:.1f} min, {args.rounds} round(s): --diarize adds {diar[0] / plain[0] - 1:+.0%} wall, "
          f"{diar[1] / plain[1] - 1:+.0%} CPU")


if __name__ == "__main__":
    main()

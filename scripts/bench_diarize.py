"""Diarization benchmark: DER (0.25 s collar), speaker-count accuracy, RTF and cold start on built conversations.

    .venv/bin/python scripts/bench_diarize.py [--split tune|test|voices|voices-tune|voices-2|both] \
        [--json bench-results/diarize.json]

``test`` is held out from tuning (other utterances of the six tuning voices), ``voices`` (seen once) and ``voices-2``
(held out) hold voices no tuning split uses, ``voices-tune`` tunes on near-identical voices; ``both`` = tune and test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from habla.diarize.bench import benchmark
from habla.diarize.corpus import SPLITS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path("../shared/testdata/speech"))
    parser.add_argument("--cache", type=Path, default=Path("bench-results/diarize-tts"),
                        help="synthesized TTS utterances are kept here")
    parser.add_argument("--split", choices=(*SPLITS, "both"), default="both")
    parser.add_argument("--json", type=Path, default=Path("bench-results/diarize.json"))
    args = parser.parse_args()
    splits = ("tune", "test") if args.split == "both" else (args.split,)
    report = benchmark(args.testdata, args.cache, splits, on_step=print)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    for split in splits:
        r = report[split]
        print(f"{split}: {r['conversations']} conversations, {r['audio_seconds'] / 60:.1f} min: DER {r['der']:.1%} "
              f"(miss {r['missed']:.1%}, false alarm {r['false_alarm']:.1%}, confusion {r['confusion']:.1%}), "
              f"worst {r['worst_der']:.1%}, count exact {r['count_exact']:.0%}, RTF {r['rtf_diarize']:.3f} "
              f"({r['rtf_with_vad']:.3f} with VAD; CPU {r['cpu_rtf_diarize']:.3f})")
    print(f"cold start {report['cold_start_seconds']} s; report: {args.json}")


if __name__ == "__main__":
    main()

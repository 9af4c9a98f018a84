"""Benchmark habla's text-to-speech: real-time factor, time to first audio, and round-trip WER (TTS → ASR).

Usage: .venv/bin/python scripts/bench_tts.py [--no-wer] [--repeats N] [--threads 1,2] [--espeak-grid]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from habla.tts.bench import main

SPEECH = Path(os.environ.get("HABLA_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata")) / "speech"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-wer", action="store_true", help="Skip the round trip through ASR.")
    parser.add_argument("--repeats", type=int, default=3, help="Runs of the paragraph per voice (best RTF kept).")
    parser.add_argument("--threads", default="", help="ONNX Runtime thread counts to compare for Piper "
                                                      "(default: 1 and one per core).")
    parser.add_argument("--espeak-grid", action="store_true",
                        help="Also compare espeak-ng rates, word gaps and voice variants for Spanish (WER) on the "
                             "texts of --speech.")
    parser.add_argument("--speech", type=Path, default=SPEECH, help=f"Clips with manifest.tsv (default {SPEECH}).")
    args = parser.parse_args()
    threads = [int(n) for n in args.threads.split(",") if n.strip()]
    main(wer=not args.no_wer, repeats=args.repeats, threads=threads or None,
         grid=args.speech if args.espeak_grid else None)

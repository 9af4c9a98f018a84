"""Benchmark habla's text-to-speech: real-time factor, time to first audio, and round-trip WER (TTS → ASR).

Usage: .venv/bin/python scripts/bench_tts.py [--no-wer] [--repeats N]
"""

from __future__ import annotations

import argparse

from habla.tts.bench import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-wer", action="store_true", help="Skip the round trip through ASR.")
    parser.add_argument("--repeats", type=int, default=3, help="Runs of the paragraph per voice (best RTF kept).")
    args = parser.parse_args()
    main(wer=not args.no_wer, repeats=args.repeats)

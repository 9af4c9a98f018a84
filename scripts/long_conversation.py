"""The 4-speaker conversation of the diarization overhead benchmarks (bench_diarize_overhead.py,
quiet_bench_diarize.py): one set of options, one conversation. Its test-data default stays here, out of habla/."""

from __future__ import annotations

import argparse
from pathlib import Path

from habla.diarize.corpus import Conversation, Material, build, tts_synthesizer


def add_long_conversation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--testdata", type=Path, default=Path("../shared/testdata/speech"))
    parser.add_argument("--cache", type=Path, default=Path("bench-results/diarize-tts"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)


def long_conversation(args: argparse.Namespace) -> Conversation:
    """About ``args.minutes`` of conversation, the same in every script."""
    turns = int(args.minutes * 60 / 4.3)  # utterances average about 4.3 s with their gaps
    return build(Material(args.testdata, tts_synthesizer(args.cache)), "long", 4, seed=99, half=1, turns=turns)

"""Benchmark `habla talk` latency: end of user speech → transcript → first token → first reply audio, per turn,
with recorded speech streamed in real time through the voice pipeline (base + Gemma-3-270M + Piper by default).

Usage: .venv/bin/python scripts/bench_voice.py [--turns 20] [--json bench-results/voice.json]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from habla.config import load_settings
from habla.voice.bench import STAGES, benchmark, write_report

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, default=Path(os.environ.get("HABLA_TEST_SPEECH",
                                                                             ROOT.parent / "shared/testdata/speech")))
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--language", default="en")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results" / "voice.json")
    args = parser.parse_args()
    report = benchmark(load_settings(), args.speech, args.turns, args.language)
    write_report(report, args.json)
    lat = report["latency"]
    print(f"\n{report['answered']}/{report['turns']} turns answered; models {report['asr_model']} + "
          f"{report['llm_model']} + {report['voice']} (load {report['load_seconds']} s); end silence "
          f"{report['end_silence_ms']} ms")
    print(f"{'seconds after the end of speech':<34} {'p50':>6} {'p95':>6} {'max':>6}")
    for stage in (*STAGES, "from_last_voiced_sample"):
        row = lat.get(stage) or {}
        print(f"{stage:<34} {row.get('p50', '-'):>6} {row.get('p95', '-'):>6} {row.get('max', '-'):>6}")
    print(f"report: {args.json}")

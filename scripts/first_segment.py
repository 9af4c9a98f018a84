"""Seconds from starting `habla transcribe -v` to its first printed segment (median of --runs), on a warm machine.

Usage: .venv/bin/python scripts/first_segment.py [FILE] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "testdata" / "speech" / "librivox-0870.flac"


def first_segment_seconds(path: Path, extra: list[str]) -> float:
    habla = str(Path(sys.executable).with_name("habla"))
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        proc = subprocess.Popen([habla, "transcribe", str(path), "-o", out, "-v", "-q", *extra],
                                stderr=subprocess.PIPE)
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(b"[") and b"-->" in line:
                elapsed = time.monotonic() - started
                break
        else:
            raise SystemExit("no segment printed")
        proc.kill()
        proc.wait()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--language", default=None, help="Pass a language (skips detection).")
    args = parser.parse_args()
    extra = ["--language", args.language] if args.language else []
    first_segment_seconds(args.file, extra)  # warm the page cache
    times = [first_segment_seconds(args.file, extra) for _ in range(args.runs)]
    print(f"first segment after {statistics.median(times):.2f} s (median of {args.runs}; min {min(times):.2f}, "
          f"max {max(times):.2f}); load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Where the benchmark scripts keep their figures: one JSON per run in bench-results/ (git-ignored), named by the
benchmark and the time it finished."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "bench-results"


def save_report(report: dict[str, Any], name: str) -> Path:
    """Write ``report`` to bench-results/<name>-<YYYYmmdd-HHMMSS>.json and return the path."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return out

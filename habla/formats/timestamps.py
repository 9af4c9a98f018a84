"""Timestamps for subtitles, TSV and console lines, rounded to the millisecond in decimal, not binary."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from habla.errors import InvalidOption

_MS = Decimal(1000)


def to_milliseconds(seconds: float) -> int:
    """Whole milliseconds, rounding half up on the decimal value the float prints as.

    ``round(59.9995 * 1000)`` depends on binary drift and rounds halves to even; going through ``repr`` makes
    59.9995 s always 60000 ms. Small negatives (VAD offset drift) clamp to 0 so no timestamp is ever negative.
    """
    value = float(seconds)
    if not math.isfinite(value):
        raise InvalidOption(f"timestamp must be a finite number of seconds, got {seconds!r}")
    if value <= 0:
        return 0
    return int((Decimal(repr(value)) * _MS).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_timestamp(seconds: float, always_include_hours: bool = False, decimal_marker: str = ".") -> str:
    """``HH:MM:SS.mmm``, or ``MM:SS.mmm`` below one hour unless ``always_include_hours`` (SRT uses ``,``)."""
    hours, rest = divmod(to_milliseconds(seconds), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    prefix = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{prefix}{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"

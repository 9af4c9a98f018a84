"""RTTM, the NIST format of speaker turns: ``SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``."""

from __future__ import annotations

from collections.abc import Iterable

from habla.diarize.protocol import SpeakerTurn
from habla.errors import InvalidOption


def _field(name: str) -> str:
    """RTTM fields are whitespace-separated: spaces inside a name become underscores."""
    return "_".join(name.split()) or "NA"


def format_rttm(turns: Iterable[SpeakerTurn], file_id: str = "audio") -> str:
    return "".join(f"SPEAKER {_field(file_id)} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> "
                   f"{_field(t.speaker)} <NA> <NA>\n" for t in turns)


def parse_rttm(text: str) -> dict[str, list[SpeakerTurn]]:
    """Turns per file id, in file order."""
    files: dict[str, list[SpeakerTurn]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] != "SPEAKER":
            continue
        if len(parts) < 8:
            raise InvalidOption(f"RTTM line {number}: expected at least 8 fields, got {len(parts)}")
        try:
            start, duration = float(parts[3]), float(parts[4])
        except ValueError as exc:
            raise InvalidOption(f"RTTM line {number}: start and duration must be numbers") from exc
        files.setdefault(parts[1], []).append(SpeakerTurn(start, start + duration, parts[7]))
    return files

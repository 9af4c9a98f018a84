"""The one reader of ``manifest.tsv``: a folder's list of clips (tab-separated columns id, lang, seconds, text),
as the benchmarks, fine-tuning and the diarization corpus read it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from habla.errors import InvalidOption

MANIFEST = "manifest.tsv"
COLUMNS = ("id", "lang", "seconds", "text")


@dataclass(frozen=True)
class ManifestRow:
    id: str
    lang: str  # "" when the manifest leaves it out
    seconds: float  # 0.0 when the manifest leaves it out
    text: str  # stripped; "" for a clip without speech


def read_manifest_rows(folder: Path) -> list[ManifestRow]:
    """Every row of ``folder/manifest.tsv``, in order. ``id`` and ``text`` are required columns."""
    path = folder / MANIFEST
    if not path.is_file():
        raise InvalidOption(f"{folder} has no {MANIFEST}", hint=f"tab-separated columns: {', '.join(COLUMNS)}")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if not {"id", "text"} <= set(reader.fieldnames or ()):
            raise InvalidOption(f"{path} needs the columns {', '.join(COLUMNS)}")
        try:
            return [ManifestRow(row["id"], (row.get("lang") or "").strip(), float(row.get("seconds") or 0),
                                (row.get("text") or "").strip()) for row in reader]
        except ValueError as exc:
            raise InvalidOption(f"{path}: a seconds value is not a number ({exc})") from exc

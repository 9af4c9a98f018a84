"""Format names to writers, and helpers to render a transcript to a string or to files."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from habla.asr.types import Segment, Transcript
from habla.errors import InvalidOption
from habla.formats.json import JsonWriter
from habla.formats.protocol import Writer, WriterOptions
from habla.formats.rttm import RttmWriter
from habla.formats.srt import SrtWriter
from habla.formats.timestamps import format_timestamp
from habla.formats.tsv import TsvWriter
from habla.formats.txt import TxtWriter
from habla.formats.vtt import VttWriter

_WRITERS: dict[str, Writer] = {w.extension: w for w in (TxtWriter(), VttWriter(), SrtWriter(), TsvWriter(),
                                                        JsonWriter(), RttmWriter())}
FORMATS: tuple[str, ...] = tuple(_WRITERS)


def get_writer(name: str) -> Writer:
    writer = _WRITERS.get(name.strip().lower().lstrip("."))
    if writer is None:
        raise InvalidOption(f"unknown output format {name!r}; valid formats: {', '.join(FORMATS)}",
                            hint="or 'all' to write every format")
    return writer


def render(transcript: Transcript, fmt: str, options: WriterOptions | None = None) -> str:
    stream = io.StringIO()
    get_writer(fmt).write(transcript, stream, options or WriterOptions())
    return stream.getvalue()


def resolve_formats(formats: Sequence[str] | str) -> list[str]:
    """Expand ``"all"``, drop repeats and check every name before anything is written."""
    names = [formats] if isinstance(formats, str) else list(formats)
    if "all" in names:
        return list(FORMATS)
    resolved: list[str] = []
    for name in names:
        ext = get_writer(name).extension
        if ext not in resolved:
            resolved.append(ext)
    return resolved


def write_files(transcript: Transcript, output_dir: str | Path, basename: str, formats: Sequence[str] | str = "all",
                options: WriterOptions | None = None) -> list[Path]:
    """Write ``basename.<ext>`` in UTF-8 for each format into ``output_dir`` (created if missing)."""
    if not basename or Path(basename).name != basename:
        raise InvalidOption(f"output basename must be a plain file name, got {basename!r}")
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    wants_all = formats == "all" or (not isinstance(formats, str) and "all" in formats)
    diarized = any(s.speaker is not None for s in transcript.segments)
    for ext in resolve_formats(formats):
        if ext == "rttm" and wants_all and not diarized:
            continue  # "all" means every format with something in it: no speakers, no rttm
        path = directory / f"{basename}.{ext}"
        # newline="" keeps "\n" on every platform; subtitle players accept it and diffs stay stable.
        path.write_text(render(transcript, ext, options), encoding="utf-8", newline="")
        paths.append(path)
    return paths


def verbose_line(segment: Segment) -> str:
    """The console line ``[00:00.000 --> 00:04.000] text``; hours appear only past one hour."""
    return f"[{format_timestamp(segment.start)} --> {format_timestamp(segment.end)}] {segment.text.strip()}"

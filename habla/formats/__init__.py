"""Transcript writers: txt, vtt, srt, tsv and json, plus timestamp formatting. Standard library only."""

from __future__ import annotations

from habla.formats.protocol import Writer, WriterOptions
from habla.formats.registry import FORMATS, get_writer, render, resolve_formats, verbose_line, write_files
from habla.formats.timestamps import format_timestamp, to_milliseconds

__all__ = ["FORMATS", "Writer", "WriterOptions", "format_timestamp", "get_writer", "render", "resolve_formats",
           "to_milliseconds", "verbose_line", "write_files"]

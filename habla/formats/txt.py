"""Plain text: one segment per line."""

from __future__ import annotations

from typing import TextIO

from habla.asr.types import Transcript
from habla.formats.protocol import WriterOptions


class TxtWriter:
    extension = "txt"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        for segment in transcript.segments:
            # A segment may hold a newline of its own; keep the one-line-per-segment promise.
            text = " ".join(segment.text.split())
            if text:
                stream.write(text + "\n")

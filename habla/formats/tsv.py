"""Tab-separated values: integer milliseconds, as openai-whisper writes them."""

from __future__ import annotations

import re
from typing import TextIO

from habla.asr.types import Transcript
from habla.formats.protocol import WriterOptions
from habla.formats.timestamps import to_milliseconds

_BREAKS = re.compile(r"[\t\r\n]+")


class TsvWriter:
    extension = "tsv"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        stream.write("start\tend\ttext\n")
        for segment in transcript.segments:
            # A tab or newline inside the text would add a column or a row.
            text = _BREAKS.sub(" ", segment.text).strip()
            stream.write(f"{to_milliseconds(segment.start)}\t{to_milliseconds(segment.end)}\t{text}\n")

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
            # With word timings asked for, one row per word (segments without words keep their row).
            rows = ([(w.start, w.end, w.word) for w in segment.words] if options.word_timestamps and segment.words
                    else [(segment.start, segment.end, segment.text)])
            for start, end, raw in rows:
                # A tab or newline inside the text would add a column or a row.
                text = _BREAKS.sub(" ", raw).strip()
                stream.write(f"{to_milliseconds(start)}\t{to_milliseconds(end)}\t{text}\n")

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
        # A speaker column only when diarized, so plain transcripts keep openai-whisper's three columns.
        speakers = any(s.speaker is not None for s in transcript.segments)
        stream.write("start\tend\tspeaker\ttext\n" if speakers else "start\tend\ttext\n")
        for segment in transcript.segments:
            # With word timings asked for, one row per word (segments without words keep their row).
            rows = ([(w.start, w.end, w.word, w.speaker or segment.speaker) for w in segment.words]
                    if options.word_timestamps and segment.words
                    else [(segment.start, segment.end, segment.text, segment.speaker)])
            for start, end, raw, who in rows:
                # A tab or newline inside the text would add a column or a row.
                text = _BREAKS.sub(" ", raw).strip()
                speaker = f"{_BREAKS.sub(' ', who or '')}\t" if speakers else ""
                stream.write(f"{to_milliseconds(start)}\t{to_milliseconds(end)}\t{speaker}{text}\n")

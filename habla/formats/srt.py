"""SubRip: numbered cues, ``HH:MM:SS,mmm`` times."""

from __future__ import annotations

from typing import TextIO

from habla.asr.types import Transcript
from habla.formats.cues import HIGHLIGHT_END, HIGHLIGHT_START, transcript_cues
from habla.formats.protocol import WriterOptions
from habla.formats.timestamps import format_timestamp


def _srt_time(seconds: float) -> str:
    return format_timestamp(seconds, always_include_hours=True, decimal_marker=",")


class SrtWriter:
    extension = "srt"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        for number, cue in enumerate(transcript_cues(transcript, options), start=1):
            text = cue.text.replace(HIGHLIGHT_START, "<u>").replace(HIGHLIGHT_END, "</u>")
            text = f"{cue.speaker}: {text}" if cue.speaker is not None else text
            stream.write(f"{number}\n{_srt_time(cue.start)} --> {_srt_time(cue.end)}\n{text}\n\n")

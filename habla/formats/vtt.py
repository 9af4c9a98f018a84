"""WebVTT: a ``WEBVTT`` header (even with no cues), then cues timed ``MM:SS.mmm`` or ``HH:MM:SS.mmm``."""

from __future__ import annotations

from typing import TextIO

from habla.asr.types import Transcript
from habla.formats.cues import HIGHLIGHT_END, HIGHLIGHT_START, transcript_cues
from habla.formats.protocol import WriterOptions
from habla.formats.timestamps import format_timestamp


def _escape(text: str) -> str:
    # WebVTT reads "&" and "<" as markup; ">" is escaped too so no "-->" can appear.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class VttWriter:
    extension = "vtt"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        stream.write("WEBVTT\n\n")
        for cue in transcript_cues(transcript, options):
            # A voice span names the speaker (WebVTT <v>); players show or style it.
            voice = f"<v {_escape(cue.speaker)}>" if cue.speaker is not None else ""
            timing = f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}"
            text = _escape(cue.text).replace(HIGHLIGHT_START, "<u>").replace(HIGHLIGHT_END, "</u>")
            stream.write(f"{timing}\n{voice}{text}\n\n")

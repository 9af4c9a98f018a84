"""RTTM: the speaker turns of a diarized transcript (consecutive segments of one speaker), NIST's format."""

from __future__ import annotations

from typing import TextIO

from habla.asr.types import Transcript
from habla.diarize.assign import speaker_turns
from habla.diarize.rttm import format_rttm
from habla.formats.protocol import WriterOptions


class RttmWriter:
    """Empty for a transcript without speakers. The file id is ``audio`` (RTTM needs one; tools match by it)."""

    extension = "rttm"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        stream.write(format_rttm(speaker_turns(transcript), options.file_id))

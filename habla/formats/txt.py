"""Plain text: one segment per line; a diarized transcript has one paragraph per speaker turn instead."""

from __future__ import annotations

from typing import TextIO

from habla.asr.types import Transcript
from habla.formats.protocol import WriterOptions


class TxtWriter:
    extension = "txt"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        if any(s.speaker is not None for s in transcript.segments):
            _write_paragraphs(transcript, stream)
            return
        for segment in transcript.segments:
            # A segment may hold a newline of its own; keep the one-line-per-segment promise.
            text = " ".join(segment.text.split())
            if text:
                stream.write(text + "\n")


def _write_paragraphs(transcript: Transcript, stream: TextIO) -> None:
    """``SPEAKER_00: text of the turn`` paragraphs separated by a blank line."""
    paragraphs: list[tuple[str | None, list[str]]] = []
    for segment in transcript.segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        if paragraphs and paragraphs[-1][0] == segment.speaker:
            paragraphs[-1][1].append(text)
        else:
            paragraphs.append((segment.speaker, [text]))
    stream.write("\n".join(f"{speaker or 'UNKNOWN'}: {' '.join(texts)}\n" for speaker, texts in paragraphs))

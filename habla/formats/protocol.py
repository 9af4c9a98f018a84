"""The writer contract: every output format turns a finished Transcript into text on a stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TextIO

from habla.asr.types import Transcript
from habla.errors import InvalidOption


@dataclass(frozen=True)
class WriterOptions:
    """Layout of subtitle cues (srt, vtt), and whether word timings are written (``--word-timestamps``)."""

    max_line_width: int = 42
    max_line_count: int = 2
    # Transcripts always carry word timings (segmenting needs them); they appear in the outputs only when asked:
    # json "words", srt/vtt word-by-word highlighting (as openai-whisper's --highlight_words), tsv rows per word.
    word_timestamps: bool = False
    file_id: str = "audio"  # rttm's file column

    def __post_init__(self) -> None:
        if self.max_line_width < 1:
            raise InvalidOption(f"max_line_width must be at least 1, got {self.max_line_width}")
        if self.max_line_count < 1:
            raise InvalidOption(f"max_line_count must be at least 1, got {self.max_line_count}")


class Writer(Protocol):
    """Stateless and thread-safe: one instance serves every request."""

    extension: str

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None: ...

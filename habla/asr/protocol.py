"""The contract every ASR backend implements. Swapping a backend touches one module."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from habla.asr.options import TranscribeOptions
from habla.asr.types import Word

Span = tuple[float, float]  # seconds, relative to the audio given


@dataclass(frozen=True)
class ChunkText:
    """What the engine decoded from one chunk (≤ 30 s): text, and words with absolute times."""

    span: Span
    text: str
    words: tuple[Word, ...]
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0  # the sampling temperature this text was decoded at


class ASREngine(Protocol):
    name: str

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """Language code and its probability, from up to 30 s of speech."""
        ...

    def detect_languages(self, audios: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """``detect_language`` of each audio, in one model call (what the batch scheduler uses)."""
        ...

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        """Decode each span (≤ 30 s) of ``audio`` as one batch; yield one ChunkText per span, in order.

        Word times are shifted by ``offset`` (the audio's position in the whole file).
        """
        ...

    def decode_piece(self, audio: np.ndarray, language: str, prompt: str) -> str:
        """Text of one short piece (≤ 30 s) of a live turn, decoded quickly (greedy), prompted with the turn's text
        so far; empty when the piece is silence."""
        ...

"""The contract every ASR backend implements. Swapping a backend touches one module."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from habla.asr.options import TranscribeOptions
from habla.asr.types import Segment

Span = tuple[float, float]  # seconds, relative to the audio given


class ASREngine(Protocol):
    name: str

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """Language code and its probability, from up to 30 s of speech."""
        ...

    def decode_spans(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                     options: TranscribeOptions, offset: float) -> Iterator[Segment]:
        """Decode each span (≤ 30 s) of ``audio``; yield segments in order, timestamps shifted by ``offset``."""
        ...

"""The diarization contract: an embedding engine and the speaker turns a diarization produces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Span = tuple[float, float]  # seconds


@dataclass(frozen=True)
class SpeakerTurn:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class SpeakerOptions:
    """How many speakers to look for: exactly ``speakers``, or between ``min_speakers`` and ``max_speakers``."""

    speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = 20

    def __post_init__(self) -> None:
        from habla.errors import InvalidOption

        if self.speakers is not None and self.speakers < 1:
            raise InvalidOption(f"speakers must be at least 1, not {self.speakers}")
        if self.min_speakers < 1:
            raise InvalidOption(f"min_speakers must be at least 1, not {self.min_speakers}")
        if self.max_speakers < self.min_speakers:
            raise InvalidOption(f"max_speakers ({self.max_speakers}) is below min_speakers ({self.min_speakers})")


class SpeakerEmbedder(Protocol):
    """Turns pieces of 16 kHz mono audio into L2-normalised speaker embeddings (one row per piece)."""

    name: str
    dimension: int

    def embed(self, pieces: Sequence[np.ndarray]) -> np.ndarray:
        ...

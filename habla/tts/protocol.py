"""The text-to-speech contract: an engine turns text into a stream of audio chunks, one or more per sentence."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Voice:
    """A voice one engine can speak with. ``model`` is what the engine loads (catalog name, espeak-ng voice id)."""

    name: str
    engine: str  # "piper" | "espeak"
    language: str  # ISO 639-1 where one exists ("en", "es"), else espeak-ng's code ("cmn")
    sample_rate: int
    model: str
    description: str = ""
    aliases: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class AudioChunk:
    """Mono PCM, float32 in [-1, 1] or int16, and the text it speaks."""

    pcm: np.ndarray
    sample_rate: int
    text: str = ""

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate

    def float32(self) -> np.ndarray:
        if self.pcm.dtype == np.int16:
            return self.pcm.astype(np.float32) / 32768.0
        return self.pcm.astype(np.float32, copy=False)

    def int16(self) -> np.ndarray:
        if self.pcm.dtype == np.int16:
            return self.pcm
        return (np.clip(self.pcm, -1.0, 1.0) * 32767.0).astype(np.int16)


class TTSEngine(Protocol):
    """Sync and thread-safe. ``synthesize`` yields audio as it is made and stops early when ``cancel`` is set."""

    name: str

    def voices(self) -> list[Voice]: ...

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0,
                   cancel: threading.Event | None = None) -> Iterator[AudioChunk]: ...

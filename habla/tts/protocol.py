"""The text-to-speech contract: an engine turns text into a stream of audio chunks, one or more per sentence."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from habla.audio.pcm import to_float32, to_int16


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
            return to_float32(self.pcm)
        return self.pcm.astype(np.float32, copy=False)

    def int16(self) -> np.ndarray:
        if self.pcm.dtype == np.int16:
            return self.pcm
        return to_int16(self.pcm)


class TTSEngine(Protocol):
    """Sync and thread-safe. ``synthesize`` yields audio as it is made and stops early when ``cancel`` is set."""

    name: str

    def voices(self) -> list[Voice]: ...

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0,
                   cancel: threading.Event | None = None) -> Iterator[AudioChunk]: ...

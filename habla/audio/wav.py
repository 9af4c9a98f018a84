"""16-bit PCM WAV files from float audio: for generated audio (benchmarks, tests, exports)."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np

from habla.audio.decode import SAMPLE_RATE
from habla.audio.pcm import to_pcm16_bytes


def _write(target: str | BinaryIO, audio: np.ndarray, rate: int) -> None:
    with wave.open(target, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(to_pcm16_bytes(audio))


def write_wav(path: str | Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write mono float audio in [-1, 1] (clipped) as 16-bit PCM."""
    path = Path(path)
    _write(str(path), audio, rate)
    return path


def wav_bytes(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit PCM WAV file in memory (for sending an export over a socket)."""
    buffer = io.BytesIO()
    _write(buffer, audio, rate)
    return buffer.getvalue()


def looped(audio: np.ndarray, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` repeated until it lasts exactly ``seconds``."""
    samples = int(seconds * rate)
    return np.tile(audio, samples // max(len(audio), 1) + 1)[:samples]

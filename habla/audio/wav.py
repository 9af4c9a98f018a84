"""16-bit PCM WAV files from float audio: for generated audio (benchmarks, tests, exports)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from habla.audio.decode import SAMPLE_RATE


def write_wav(path: str | Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write mono float audio in [-1, 1] (clipped) as 16-bit PCM."""
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def looped(audio: np.ndarray, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` repeated until it lasts exactly ``seconds``."""
    samples = int(seconds * rate)
    return np.tile(audio, samples // max(len(audio), 1) + 1)[:samples]

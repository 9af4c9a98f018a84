"""float32 audio in [-1, 1] ↔ 16-bit PCM: the one conversion (WAV files, /v1/talk frames, TTS output, buffers).

int16 → float divides by 32768 (the full negative range maps to -1.0); float → int16 clips to [-1, 1] and scales by
32767 (so +1.0 does not overflow). Little-endian on the wire, as WAV and the WebSocket protocol specify.
"""

from __future__ import annotations

import numpy as np


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio (clipped to [-1, 1]) as int16 samples."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def to_float32(pcm: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1)."""
    return pcm.astype(np.float32) / 32768.0


def to_pcm16_bytes(audio: np.ndarray) -> bytes:
    """Float audio as raw 16-bit little-endian PCM."""
    return to_int16(audio).astype("<i2").tobytes()


def from_pcm16_bytes(data: bytes) -> np.ndarray:
    """Raw 16-bit little-endian PCM as float32 (a trailing odd byte is ignored)."""
    return to_float32(np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2"))

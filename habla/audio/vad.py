"""Voice activity detection with Silero VAD (the ONNX model faster-whisper ships)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from habla.audio.decode import SAMPLE_RATE
from habla.faster_whisper_adapter import SileroStream, silero_speech_timestamps


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_speech_ms: int = 250  # shorter blips (clicks, breaths) are not speech
    min_silence_ms: int = 300  # pauses shorter than this stay inside one span
    max_speech_s: float = 30.0  # one Whisper window
    pad_ms: int = 200


# Silero runs over every window of its input at once: ten minutes cost ~200 MB of activations, one minute ~20 MB.
PIECE_SECONDS = 60


def speech_spans(audio: np.ndarray, options: VadOptions = VadOptions()) -> list[tuple[float, float]]:
    """Speech regions of 16 kHz mono audio, in seconds, found a minute at a time to bound memory."""
    spans: list[tuple[float, float]] = []
    piece = PIECE_SECONDS * SAMPLE_RATE
    for first in range(0, len(audio), piece):
        offset = first / SAMPLE_RATE
        for start, end in _silero(audio[first:first + piece], options):
            start, end = round(start + offset, 3), round(end + offset, 3)
            if spans and start - spans[-1][1] < options.min_silence_ms / 1000:  # speech across a piece boundary
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return spans


def _silero(audio: np.ndarray, options: VadOptions) -> list[tuple[float, float]]:
    if len(audio) < SAMPLE_RATE // 10:
        return []
    found = silero_speech_timestamps(audio, threshold=options.threshold, min_speech_ms=options.min_speech_ms,
                                     max_speech_s=options.max_speech_s, min_silence_ms=options.min_silence_ms,
                                     pad_ms=options.pad_ms)
    # Millisecond precision, rounded inwards so a span never reaches past the audio.
    return [(math.ceil(start / SAMPLE_RATE * 1000) / 1000, math.floor(end / SAMPLE_RATE * 1000) / 1000)
            for start, end in found]


class StreamingVAD(Protocol):
    """Speech probability of consecutive windows of a live 16 kHz stream, state carried from one to the next."""

    window: int  # samples per call

    def probability(self, window: np.ndarray) -> float:
        """Probability that the next ``window`` samples (float32) are speech."""
        ...


def silero_stream() -> StreamingVAD:
    """Silero VAD for one live stream (its own state; the model is shared by the process)."""
    return SileroStream()

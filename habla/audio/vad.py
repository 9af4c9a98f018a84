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
    """Speech regions of 16 kHz mono audio, in seconds, found a minute at a time to bound memory.

    No region is longer than ``options.max_speech_s``: Silero splits long speech at its short pauses, and a region
    still too long (speech running across a minute boundary) is split at its quietest moment, never at a fixed
    second, since a cut inside a word makes Whisper invent or drop the words around it.
    """
    spans: list[tuple[float, float]] = []
    piece = PIECE_SECONDS * SAMPLE_RATE
    for first in range(0, len(audio), piece):
        offset = first / SAMPLE_RATE
        for index, (start, end) in enumerate(_silero(audio[first:first + piece], options)):
            start, end = round(start + offset, 3), round(end + offset, 3)
            # only speech running across the piece boundary is joined: Silero's own splits stay
            if index == 0 and spans and start - spans[-1][1] < options.min_silence_ms / 1000:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return [part for span in spans for part in split_at_quietest(audio, span, options.max_speech_s)]


QUIET_FRAME_S = 0.1  # RMS frame for choosing a cut: about one syllable, so the minimum is a gap between sounds


def split_at_quietest(audio: np.ndarray, span: tuple[float, float], longest: float) -> list[tuple[float, float]]:
    """``span`` cut into parts of at most ``longest`` seconds, each cut at the quietest frame of the second half of
    the part it ends."""
    parts = []
    start, end = span
    frame = int(QUIET_FRAME_S * SAMPLE_RATE)
    while end - start > longest:
        lo, hi = int((start + longest / 2) * SAMPLE_RATE), int((start + longest) * SAMPLE_RATE) - frame
        frames = audio[lo:hi][: (hi - lo) // frame * frame].reshape(-1, frame) if hi - lo >= frame else None
        if frames is None or not len(frames):
            cut = start + longest
        else:
            quietest = int(np.argmin(np.mean(frames.astype(np.float64) ** 2, axis=1)))
            cut = round((lo + quietest * frame + frame // 2) / SAMPLE_RATE, 3)
        parts.append((start, cut))
        start = cut
    return [*parts, (start, end)]


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

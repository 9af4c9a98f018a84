"""audio (+ speech regions) → sliding windows → speaker embeddings → clusters → speaker turns.

Audio can be fed a block at a time (``add``): only the embeddings (192 floats per window) are kept, so memory is
bounded on hours of audio. Speech regions come from the VAD transcription already ran when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from habla.audio.decode import SAMPLE_RATE
from habla.config import DiarizeSettings
from habla.diarize.cluster import cluster_windows
from habla.diarize.protocol import Span, SpeakerEmbedder, SpeakerOptions, SpeakerTurn
import itertools

SPEAKER_PREFIX = "SPEAKER_"


def speaker_label(index: int) -> str:
    return f"{SPEAKER_PREFIX}{index:02d}"


def speech_windows(span: Span, window: float, hop: float) -> list[Span]:
    """Windows of ``window`` seconds every ``hop`` over one speech region; the last one ends with the region."""
    start, end = span
    if end - start <= window:
        return [(start, end)]
    windows = []
    t = start
    while t + window < end:
        windows.append((t, t + window))
        t += hop
    windows.append((end - window, end))
    return windows


@dataclass
class _Region:
    span: Span
    windows: list[Span]
    first_row: int


@dataclass
class Diarization:
    """Collects window embeddings block by block, then clusters them once into speaker turns."""

    embedder: SpeakerEmbedder
    settings: DiarizeSettings
    regions: list[_Region] = field(default_factory=list)
    _embeddings: list[np.ndarray] = field(default_factory=list)
    _rows: int = 0

    def add(self, audio: np.ndarray, speech: Sequence[Span], offset: float = 0.0) -> None:
        """Embed the speech of one block; ``speech`` is relative to ``audio``, ``offset`` its place in the file."""
        pieces: list[np.ndarray] = []
        for span in speech:
            windows = speech_windows(span, self.settings.window_seconds, self.settings.hop_seconds)
            if not windows:
                continue
            self.regions.append(_Region((span[0] + offset, span[1] + offset),
                                        [(s + offset, e + offset) for s, e in windows], self._rows))
            pieces.extend(audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for s, e in windows)
            self._rows += len(windows)
        if pieces:
            self._embeddings.append(self.embedder.embed(pieces))

    @property
    def embeddings(self) -> np.ndarray:
        if not self._embeddings:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.concatenate(self._embeddings)

    def turns(self, options: SpeakerOptions | None = None) -> list[SpeakerTurn]:
        labels = self.labels(options)
        return self.turns_from(labels)

    def labels(self, options: SpeakerOptions | None = None) -> np.ndarray:
        """A speaker index per window (0 = the first to speak)."""
        options = options or SpeakerOptions(max_speakers=self.settings.max_speakers)
        seconds = np.array([e - s for r in self.regions for s, e in r.windows])
        follows = np.array([i > 0 for r in self.regions for i in range(len(r.windows))], dtype=bool)
        labels = cluster_windows(self.embeddings, seconds, self.settings.threshold, options,
                                 self.settings.min_speaker_seconds, self.settings.clustering,
                                 self.settings.spectral_pval, follows)
        return _smooth(labels, self.regions)

    def turns_from(self, labels: np.ndarray, names: Sequence[str] | None = None) -> list[SpeakerTurn]:
        """Speaker turns: each window speaks for the part of its region nearest its centre."""
        turns: list[SpeakerTurn] = []
        for region in self.regions:
            centres = [(s + e) / 2 for s, e in region.windows]
            bounds = [region.span[0], *[(a + b) / 2 for a, b in itertools.pairwise(centres)], region.span[1]]
            for i in range(len(region.windows)):
                label = int(labels[region.first_row + i])
                speaker = names[label] if names is not None else speaker_label(label)
                start, end = round(bounds[i], 3), round(bounds[i + 1], 3)
                if turns and turns[-1].speaker == speaker and start - turns[-1].end < 1e-6:
                    turns[-1] = SpeakerTurn(turns[-1].start, end, speaker)
                elif end > start:
                    turns.append(SpeakerTurn(start, end, speaker))
        return turns

    def centroids(self, labels: np.ndarray) -> np.ndarray:
        """One L2-normalised mean embedding per speaker index."""
        emb = self.embeddings
        k = int(labels.max()) + 1 if len(labels) else 0
        out = np.stack([emb[labels == i].mean(axis=0) for i in range(k)]) if k else np.zeros((0, emb.shape[1]))
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def _smooth(labels: np.ndarray, regions: list[_Region]) -> np.ndarray:
    """A lone window between two windows of one speaker, in one region, is that speaker too (a change of speaker
    lasts longer than one hop; a lone label is an embedding of mixed or unclear speech)."""
    out = labels.copy()
    for region in regions:
        rows = range(region.first_row + 1, region.first_row + len(region.windows) - 1)
        for row in rows:
            if labels[row - 1] == labels[row + 1] != labels[row]:
                out[row] = labels[row - 1]
    return out

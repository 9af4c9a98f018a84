"""audio (+ speech regions) → sliding windows → speaker embeddings → clusters → speaker turns.

Audio can be fed a block at a time (``add``): only the embeddings (192 floats per window) are kept, so memory is
bounded on hours of audio. Speech regions come from the VAD transcription already ran when there is one. With
``background`` set, a block is embedded on a thread of its own while the caller goes on (transcribing it), and at
most BACKLOG_BLOCKS wait, so memory stays bounded when the embedder is the slower of the two.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from habla.audio.decode import SAMPLE_RATE
from habla.config import DiarizeSettings
from habla.diarize.cluster import SplitRule, cluster_windows
from habla.diarize.protocol import Span, SpeakerEmbedder, SpeakerOptions, SpeakerTurn

SPEAKER_PREFIX = "SPEAKER_"
BACKLOG_BLOCKS = 1


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
    _work: queue.Queue[list[np.ndarray] | None] | None = None
    _worker: threading.Thread | None = None
    _failure: Exception | None = None

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
        if not pieces:
            return
        if not self.settings.background:
            self._embeddings.append(self.embedder.embed(pieces))
            return
        if self._work is None:
            self._work = queue.Queue(maxsize=BACKLOG_BLOCKS)
            self._worker = threading.Thread(target=self._embed_queued, name="speaker-embeddings", daemon=True)
            self._worker.start()
        self._raise_failure()
        self._work.put(pieces)

    def _embed_queued(self) -> None:
        assert self._work is not None
        while (pieces := self._work.get()) is not None:
            if self._failure is None:  # after a failure, drain the queue so that no add() blocks forever
                try:
                    self._embeddings.append(self.embedder.embed(pieces))
                except Exception as exc:  # noqa: BLE001 -- any failure is handed to the caller's thread (_raise_failure)
                    self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def close(self, raise_failure: bool = True) -> None:
        """Wait for the blocks still being embedded (a no-op without ``background``); an embedding failure is
        raised here unless ``raise_failure`` is off (a caller already failing for its own reason)."""
        if self._worker is not None and self._work is not None:
            self._work.put(None)
            self._worker.join()
            self._worker = self._work = None
        if raise_failure:
            self._raise_failure()

    @property
    def embeddings(self) -> np.ndarray:
        self.close()
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
        split = SplitRule(self.settings.split_neighbours, self.settings.split_neighbour_share,
                          self.settings.split_min_distance, self.settings.split_min_windows)
        labels = cluster_windows(self.embeddings, seconds, self.settings.threshold, options,
                                 self.settings.min_speaker_seconds, self.settings.clustering,
                                 self.settings.spectral_pval, follows, split)
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

"""The one entry point for diarization: resolves the embedding model through the store, shares it, and turns
audio (or its speech regions from transcription) into speaker turns, optionally named after known speakers."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from habla.audio.decode import SAMPLE_RATE, AudioSource, iter_blocks
from habla.audio.vad import speech_spans
from habla.config import DiarizeSettings, Settings, load_settings
from habla.diarize.embedder import CamPlusPlusEmbedder, onnx_network, torch_network
from habla.diarize.onnx_export import cached_onnx
from habla.diarize.pipeline import Diarization, speaker_label
from habla.diarize.protocol import SpeakerOptions, SpeakerTurn
from habla.errors import InvalidOption, ModelNotFound
from habla.models.catalog import ALL_MODELS
from habla.models.manager import ModelManager
from habla.models.store import ModelStore, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownSpeaker:
    """A person to recognise: a name and a short clip (16 kHz mono) of their voice."""

    name: str
    audio: np.ndarray


@dataclass(frozen=True)
class DiarizationResult:
    turns: list[SpeakerTurn]
    speakers: list[str]  # in order of first appearance


class Diarizer:
    """Thread-safe. One per process: the embedding model loads once and is shared by every call."""

    def __init__(self, diarize: DiarizeSettings, store: ModelStore) -> None:
        self.diarize_settings, self.store = diarize, store
        self.models: ModelManager[CamPlusPlusEmbedder] = ModelManager(self._load,
                                                                      idle_seconds=diarize.idle_unload_seconds)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, store: ModelStore | None = None) -> Diarizer:
        """From the whole configuration (loaded from the environment when not given), with a store of its own
        unless one is shared."""
        settings = settings or load_settings()
        return cls(settings.diarize, store or ModelStore(settings.models))

    def speaker_options(self, speakers: int | None = None, min_speakers: int | None = None,
                        max_speakers: int | None = None) -> SpeakerOptions:
        low = 1 if min_speakers is None else min_speakers
        high = max(self.diarize_settings.max_speakers, low) if max_speakers is None else max_speakers
        return SpeakerOptions(speakers=speakers, min_speakers=low, max_speakers=high)

    @contextmanager
    def session(self) -> Iterator[Diarization]:
        """A diarization to feed block by block (``add``) and ``finish``; the model stays loaded meanwhile."""
        with self.models.use(self.diarize_settings.model) as embedder:
            run = Diarization(embedder, self.diarize_settings)
            try:
                yield run
            finally:
                run.close(raise_failure=False)  # a background embedder stops with the session, come what may

    def finish(self, run: Diarization, options: SpeakerOptions | None = None,
               known: Sequence[KnownSpeaker] = ()) -> DiarizationResult:
        labels = run.labels(options or self.speaker_options())
        count = int(labels.max()) + 1 if len(labels) else 0
        names = [speaker_label(i) for i in range(count)]
        if known and count:
            references = run.embedder.embed([k.audio for k in known])
            names = name_speakers(run.centroids(labels), references, [k.name for k in known],
                                  self.diarize_settings.known_speaker_threshold)
        return DiarizationResult(run.turns_from(labels, names), names)

    def diarize(self, audio: np.ndarray, speech: Sequence[tuple[float, float]] | None = None,
                options: SpeakerOptions | None = None,
                known: Sequence[KnownSpeaker] = ()) -> DiarizationResult:
        """Speaker turns of 16 kHz mono ``audio``; ``speech`` (seconds) skips running VAD again."""
        with self.session() as run:
            run.add(audio, speech_spans(audio) if speech is None else speech)
            return self.finish(run, options, known)

    def diarize_source(self, source: AudioSource, options: SpeakerOptions | None = None,
                       known: Sequence[KnownSpeaker] = (), block_seconds: float = 600.0) -> DiarizationResult:
        """Like ``diarize`` for a file of any length, decoded and embedded a block at a time."""
        with self.session() as run:
            offset = 0.0
            for block in iter_blocks(source, block_seconds=block_seconds):
                run.add(block, speech_spans(block), offset)
                offset += len(block) / SAMPLE_RATE
            return self.finish(run, options, known)

    def warm(self) -> None:
        with self.models.use(self.diarize_settings.model):
            pass

    def _load(self, key: Hashable) -> CamPlusPlusEmbedder:
        name = str(key)
        location = self.store.locate(name)
        weights = next(iter(sorted(location.path.glob("*.pt"))), None)
        if weights is None:
            raise InvalidOption(f"model {name!r} has no .pt weights at {location.path}")
        d = self.diarize_settings
        if d.runtime == "onnx":
            try:
                graph = cached_onnx(weights, self._sha256(name, weights), self.store.settings.cache_dir)
                return CamPlusPlusEmbedder(onnx_network(graph, d.threads), name, d.batch_size, "onnx")
            except (ModelNotFound, ImportError) as exc:
                log.warning("speaker embeddings through torch (about 1.6x the CPU of ONNX Runtime): %s", exc)
        return CamPlusPlusEmbedder(torch_network(weights, d.threads), name, d.batch_size, "torch")

    def _sha256(self, name: str, weights: Path) -> str:
        """The catalog's sha256 of the weights file (the store verified it), else hashed here."""
        spec = ALL_MODELS.get(name) or self.store.registered_spec(name)
        known = [f.sha256 for f in spec.files if f.name == weights.name and f.sha256] if spec else []
        return known[0] if known else sha256_file(weights)


def name_speakers(centroids: np.ndarray, references: np.ndarray, names: Sequence[str],
                  threshold: float) -> list[str]:
    """Each cluster takes the name of the most similar reference above ``threshold`` (each name once, best pairs
    first); the others stay SPEAKER_NN."""
    labels = [speaker_label(i) for i in range(len(centroids))]
    if not len(centroids) or not len(references):
        return labels
    similarity = centroids @ references.T
    pairs = sorted(((float(similarity[c, r]), c, r) for c in range(len(centroids)) for r in range(len(references))),
                   reverse=True)
    used_clusters: set[int] = set()
    used_names: set[int] = set()
    for score, c, r in pairs:
        if score < threshold:
            break
        if c in used_clusters or r in used_names:
            continue
        labels[c] = names[r]
        used_clusters.add(c)
        used_names.add(r)
    return labels

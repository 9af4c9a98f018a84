"""BM25 over transcript segments (bm25s): which segments a question is about, and which segment supports a sentence."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from habla.errors import LLMUnavailable


def _bm25s() -> Any:  # the module, from the optional extra
    try:
        import bm25s
    except ImportError as exc:
        raise LLMUnavailable("the transcript assistant needs bm25s", hint='pip install "habla[llm]"') from exc
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG on import
    return bm25s


class SegmentIndex:
    """Ranks texts (one per segment) against a query. English stop words are ignored."""

    def __init__(self, texts: Sequence[str]) -> None:
        bm25s = _bm25s()
        self.size = len(texts)
        self._tokenize = lambda items: bm25s.tokenize(list(items), stopwords="en", return_ids=False,
                                                      show_progress=False)
        docs = self._tokenize(texts) if texts else []
        self._vocab = {t for doc in docs for t in doc}
        self._retriever = None
        if self._vocab:
            self._retriever = bm25s.BM25()
            self._retriever.index(bm25s.tokenize(list(texts), stopwords="en", show_progress=False),
                                  show_progress=False)

    def terms(self, text: str) -> set[str]:
        """The words BM25 matches on (lower case, stop words removed)."""
        return set(self._tokenize([text])[0])

    def scores(self, query: str) -> np.ndarray:
        terms = [t for t in self._tokenize([query])[0] if t in self._vocab]
        if self._retriever is None or not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)

    def top(self, query: str, k: int, among: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """The best ``k`` (index, score) with a score above zero, best first; ``among`` limits the candidates."""
        scores = self.scores(query)
        ids = np.arange(self.size) if among is None else np.asarray(list(among), dtype=np.int64)
        if ids.size == 0:
            return []
        order = ids[np.argsort(-scores[ids], kind="stable")][:k]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]

    def best(self, query: str, among: Sequence[int] | None = None) -> int | None:
        hits = self.top(query, 1, among)
        return hits[0][0] if hits else None

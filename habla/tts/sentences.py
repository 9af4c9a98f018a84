"""Sentence splitting for speech, streaming-friendly: feed text deltas (e.g. LLM tokens), get sentences as soon
as their end is certain.

A sentence ends at . ! ? … (plus closing quotes/brackets) followed by whitespace and then something that does not
start in lower case; at a line break; or right after a CJK full stop. "Dr.", "e.g.", initials, decimals and list
numbers do not end sentences. The first piece can be cut early at a clause boundary (comma, semicolon, colon,
dash) so that a speaker starts sooner, or at a word when the first sentence runs on without one; over-long
sentences are cut at a clause or a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_TERMINATORS = frozenset(".!?…")
_CJK_TERMINATORS = frozenset("。！？")
_CLOSERS = frozenset("\"'”’»)]}")
_CLAUSE = frozenset(",;:")
_DASHES = frozenset("—–")
_LAST_WORD = re.compile(r"([^\W_][\w.]*)$")
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "sra", "srta", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "nos",
    "fig", "approx", "dept", "inc", "ltd", "co", "corp", "mt", "ave", "gen", "gov", "lt", "col", "capt", "rev",
    "ud", "uds", "dra", "lic", "ing", "av", "pág", "núm", "p.ej", "vol", "cf", "ca", "a.m", "p.m",
})
_WAIT = -1  # the boundary depends on text not seen yet


# What a chat model writes for the eye but a voice should not read out: emoji (espeak-ng names each one: "smiling
# face with smiling eyes"), their joiners and modifiers, and markdown marks ("asterisk asterisk").
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0E\uFE0F\u200D\u20E3]+")
_MARKDOWN = re.compile(r"^[ \t]*[-*+][ \t]+|^[ \t]{0,3}#{1,6}[ \t]+|\*+(?=\S)|(?<=\S)\*+|_{2,3}|`+", re.MULTILINE)
_SPACES = re.compile(r"[ \t]{2,}")


def speakable(text: str) -> str:
    """The text without emoji and markdown marks, for a speech engine."""
    return _SPACES.sub(" ", _MARKDOWN.sub("", _EMOJI.sub(" ", text))).strip()


def has_words(text: str) -> bool:
    """Whether a piece has anything to say (not just punctuation or symbols)."""
    return any(c.isalnum() for c in text)


class SentenceSplitter:
    """``feed(delta)`` returns the sentences completed so far; ``flush()`` returns the rest at the end of the text.

    ``first_clause_chars`` > 0 lets the first piece end at a clause boundary at least that many characters in,
    or, when there is none in its first 3× that many characters, at the last space before 2× (Piper's time to
    first audio grows with the length of the piece); ``max_chars`` bounds every piece.
    """

    def __init__(self, first_clause_chars: int = 0, max_chars: int = 300) -> None:
        self.first_clause_chars = first_clause_chars
        self.max_chars = max(max_chars, 2)
        self._buf = ""
        self._first = True

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        pieces = self._drain(final=True)
        rest, self._buf = self._buf.strip(), ""
        if has_words(rest):
            pieces.append(rest)
        return pieces

    def _drain(self, final: bool) -> list[str]:
        pieces: list[str] = []
        while (cut := self._find_cut(final)) > 0:
            piece, self._buf = self._buf[:cut].strip(), self._buf[cut:]
            if has_words(piece):
                pieces.append(piece)
                self._first = False
        return pieces

    def _find_cut(self, final: bool) -> int:
        """Index just after the earliest boundary, or 0 when there is none (yet)."""
        buf = self._buf
        limit = min(len(buf), self.max_chars)
        word_cut_at = 3 * self.first_clause_chars if self._first else 0
        for i in range(limit):
            end = self._boundary_at(buf, i, final)
            if end == _WAIT:
                return 0
            if end:
                return end
            if i and i == word_cut_at and (cut := buf.rfind(" ", self.first_clause_chars, 2 * i // 3)) > 0:
                # A long first sentence without a clause: start audio after a few words rather than all of it.
                return cut + 1
        return self._forced_cut(buf) if len(buf) > self.max_chars else 0

    def _boundary_at(self, buf: str, i: int, final: bool) -> int:
        ch = buf[i]
        if ch == "\n" or ch in _CJK_TERMINATORS:
            return i + 1
        if ch in _TERMINATORS:
            return self._sentence_end(buf, i, final)
        if self._first and self.first_clause_chars and i >= self.first_clause_chars:
            return self._clause_end(buf, i, final)
        return 0

    def _sentence_end(self, buf: str, i: int, final: bool) -> int:
        j = i
        while j < len(buf) and (buf[j] in _TERMINATORS or buf[j] in _CLOSERS):
            j += 1
        k = j
        while k < len(buf) and buf[k] in " \t\r":
            k += 1
        if k == len(buf):
            return 0 if final else _WAIT  # at the very end: flush() takes it, or more text decides
        if k == j and buf[k] != "\n":
            return 0  # "3.5", "e.g": no space after the dot
        if buf[k].islower() or (buf[i] == "." and _is_abbreviation(buf, i)):
            return 0
        return j

    def _clause_end(self, buf: str, i: int, final: bool) -> int:
        ch = buf[i]
        if ch in _DASHES:
            return i + 1
        if ch not in _CLAUSE:
            return 0
        if i + 1 == len(buf):
            return 0 if final else _WAIT
        return i + 1 if buf[i + 1].isspace() else 0  # "1,000" and "3:30" are not clauses

    def _forced_cut(self, buf: str) -> int:
        """Cut an over-long piece at its last clause boundary, else its last space, else anywhere."""
        window = buf[: self.max_chars]
        for marks in (_CLAUSE | _DASHES, frozenset(" \t")):
            cut = max((n for n, c in enumerate(window) if c in marks), default=-1)
            if cut > self.max_chars // 3:
                return cut + 1
        return self.max_chars


def _is_abbreviation(buf: str, dot: int) -> bool:
    match = _LAST_WORD.search(buf[:dot])
    if match is None:
        return False
    word = match.group(1)
    if word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper()):
        return True
    # "1." at the start of a line is a list number, not the end of a sentence.
    line_start = buf.rfind("\n", 0, match.start()) + 1
    return word.isdigit() and not buf[line_start:match.start()].strip()


def split_sentences(text: str, first_clause_chars: int = 0, max_chars: int = 300) -> list[str]:
    """All pieces of a whole text."""
    splitter = SentenceSplitter(first_clause_chars, max_chars)
    return splitter.feed(text) + splitter.flush()


def iter_sentences(deltas: Iterable[str], first_clause_chars: int = 0, max_chars: int = 300) -> Iterator[str]:
    """Sentences from a stream of text deltas, each yielded as soon as it is complete."""
    splitter = SentenceSplitter(first_clause_chars, max_chars)
    for delta in deltas:
        yield from splitter.feed(delta)
    yield from splitter.flush()

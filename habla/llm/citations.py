"""Timestamped transcript lines for prompts, and checking the citations in what the model wrote.

A citation is kept only if a segment really starts at that second. An invented one is replaced by the segment
whose words best support its sentence, or dropped when no segment does. Models, small ones above all, copy
timestamps loosely; the user must be able to click every one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from habla.asr.types import Segment, Transcript
from habla.llm.prompts import TIMESTAMP, format_timestamp, parse_timestamp
from habla.llm.retrieval import SegmentIndex

BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
MIN_SUPPORT = 0.5  # share of a summary bullet's words that its cited segments must contain
JUNK = re.compile(r"<(?:start|end)_of_turn>|<bos>|<eos>|\*\*|</?strong>")


@dataclass(frozen=True)
class Citation:
    segment_id: int
    start: float
    end: float
    timestamp: str
    text: str


class TranscriptLines:
    """The transcript as ``[mm:ss] text`` lines (``[h:mm:ss]`` for long ones), with a BM25 index over them."""

    def __init__(self, transcript: Transcript) -> None:
        self.segments: list[Segment] = [s for s in transcript.segments if s.text.strip()]
        duration = max([transcript.duration] + [s.end for s in self.segments])
        self.hours = duration >= 3600
        self.lines = [f"{self.stamp(s.start)} {s.text.strip()}" for s in self.segments]
        self.by_second: dict[int, list[int]] = {}
        for i, s in enumerate(self.segments):
            self.by_second.setdefault(int(s.start), []).append(i)
        self.language = transcript.language or "en"
        self.index = SegmentIndex([s.text for s in self.segments], self.language)
        self.terms = self.index.doc_terms

    def support(self, sentence: str, cited: Sequence[int]) -> float:
        """How much of a sentence the cited segments say: the share of its words found in them."""
        words = self.index.terms(sentence)
        if not words:
            return 0.0
        said = set().union(*(self.terms[i] for i in cited)) if cited else set()
        return len(words & said) / len(words)

    def stamp(self, seconds: float) -> str:
        return format_timestamp(seconds, self.hours)

    def citation(self, i: int) -> Citation:
        s = self.segments[i]
        return Citation(s.id, s.start, s.end, self.stamp(s.start), s.text.strip())

    def resolve(self, second: int, sentence: str, among: set[int] | None) -> int | None:
        """The segment a cited second stands for.

        Kept: a segment that starts at that second and shares words with the sentence (or any that starts then,
        when no segment shares words with it). Fixed: the segment that best supports the sentence, when the
        cited one does not exist or says something else. Dropped (None): no segment supports the sentence.
        """
        candidates = sorted(among) if among is not None else None
        starts = [i for i in self.by_second.get(second, []) if among is None or i in among]
        cited = self.index.best(sentence, starts) if starts else None
        if cited is not None:
            return cited
        support = self.index.best(sentence, candidates)
        if support is not None:
            return support
        return starts[0] if starts else None


@dataclass
class Grounded:
    text: str
    citations: list[Citation]


def _clean(line: str) -> str:
    return re.sub(r"\s+", " ", JUNK.sub("", line)).strip()


def ground_sentence(sentence: str, lines: TranscriptLines, among: set[int] | None,
                    attach: bool) -> tuple[str, list[int], bool]:
    """Fix or drop each timestamp in a sentence; with ``attach``, cite the best support when none is left.

    Returns the sentence without timestamps, the cited segment indices, and whether any segment supports it.
    """
    bare = _clean(TIMESTAMP.sub(" ", sentence))
    cited: list[int] = []
    for match in TIMESTAMP.finditer(sentence):
        i = lines.resolve(parse_timestamp(match), bare, among)
        if i is not None and i not in cited:
            cited.append(i)
    support = lines.index.best(bare, sorted(among) if among is not None else None)
    if not cited and attach and support is not None:
        cited.append(support)
    return bare, cited, support is not None or bool(cited)


def ground_bullets(text: str, lines: TranscriptLines, among: set[int] | None = None,
                   max_bullets: int = 10) -> Grounded:
    """A summary as bullets ``- fact [mm:ss]``: repeated and unsupported bullets dropped, every citation real."""
    bullets: list[str] = []
    seen: list[frozenset[str]] = []
    cites: list[int] = []
    for raw in text.splitlines():
        line = BULLET.sub("", raw)
        if not line.strip():
            continue
        bare, cited, supported = ground_sentence(line, lines, among, attach=True)
        words = frozenset(lines.index.terms(bare))
        if not supported or not words or _repeats(words, seen) or lines.support(bare, cited) < MIN_SUPPORT:
            continue  # an invented or repeated line: small models loop and make things up
        seen.append(words)
        stamps = " ".join(lines.stamp(lines.segments[i].start) for i in sorted(cited))
        bullets.append(f"- {bare} {stamps}".rstrip())
        cites.extend(i for i in cited if i not in cites)
        if len(bullets) >= max_bullets:
            break
    return Grounded("\n".join(bullets), [lines.citation(i) for i in sorted(cites)])


def _repeats(words: frozenset[str], seen: list[frozenset[str]]) -> bool:
    """Whether a bullet says what an earlier one said: most of its words, or of theirs, already there."""
    return any(len(words & w) >= 0.7 * min(len(words), len(w)) for w in seen)


def ground_answer(text: str, lines: TranscriptLines, among: Sequence[int], fallback: int | None) -> Grounded:
    """An answer with each timestamp checked in place; if none is left, the best retrieved segment is cited."""
    allowed = set(among)
    cites: list[int] = []

    def fix(match: re.Match[str]) -> str:
        sentence = _sentence_around(text, match.start())
        i = lines.resolve(parse_timestamp(match), TIMESTAMP.sub(" ", sentence), allowed)
        if i is None:
            return ""
        if i not in cites:
            cites.append(i)
        return lines.stamp(lines.segments[i].start)

    answer = re.sub(r"[ \t]+", " ", JUNK.sub("", TIMESTAMP.sub(fix, text))).strip()
    if not cites:
        support = lines.index.best(answer, sorted(allowed)) if answer else None
        chosen = support if support is not None else fallback
        if chosen is not None:
            cites.append(chosen)
            answer = f"{answer} {lines.stamp(lines.segments[chosen].start)}".strip()
    return Grounded(answer, [lines.citation(i) for i in cites])


def _sentence_around(text: str, pos: int) -> str:
    start = max(text.rfind(". ", 0, pos), text.rfind("\n", 0, pos)) + 1
    ends = [e for e in (text.find(". ", pos), text.find("\n", pos)) if e >= 0]
    return text[start: min(ends) if ends else len(text)]

"""Topics of a transcript and their salient sentences, found without the LLM, so a summary covers every topic.

Topic boundaries come from lexical cohesion (TextTiling, Hearst 1997): the words of the few sentences before a gap
are compared with the words of the few after it; a gap where the similarity dips deeper than its neighbours is
where the talk moved on. Inside each topic the sentences are ranked by how central they are to the topic (BM25
against the topic's own words), whether they carry numbers and names (the facts people look for) and where they
sit (a topic's first sentence often announces it). The LLM then only compresses what was picked.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from habla.llm.citations import TranscriptLines

SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")
NUMBER = re.compile(r"\b\d+(?:[.,:]\d+)*\w*|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                    r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|percent|uno|dos|tres|cuatro|cinco|seis|siete|ocho|"
                    r"nueve|diez|veinte|treinta|cuarenta|cincuenta|cien|mil|millones|por ciento)\b", re.IGNORECASE)
# An amount also in the words NUMBER (the fact checks' list) leaves out, or none at all ("free"): what
# "how many?" needs.
AMOUNT = re.compile(NUMBER.pattern + r"|\b(?:(?:thir|four|fif|six|seven|eigh|nine)teen|(?:six|seven|eigh|nine)ty|dozen|"
                    r"half|free|nothing|none|nobody|once|doce|trece|catorce|quince|dieci\w+|veinti\w+|(?:se|no)(?:s|v)enta|"
                    r"setenta|ochenta|(?:dos|tres|cuatro|seis|sete|ocho|nove)cient[oa]s|quinient[oa]s|medi[oa]|gratis|"
                    r"gratuit[oa]s?|nada|nadie|ningun[oa]?)\b", re.IGNORECASE)
NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÁÉÍÓÚÑ][\wáéíóúñ]+")
WEEKDAY_OR_MONTH = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july|"
    r"august|september|october|november|december|lunes|martes|miércoles|miercoles|jueves|viernes|sábado|sabado|"
    r"domingo|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre)\b",
    re.IGNORECASE)


MIN_TERMS = 4  # fewer content words and no number: an agenda marker or a greeting, not a fact


@dataclass(frozen=True)
class Sentence:
    segment: int  # index into TranscriptLines.segments
    text: str


@dataclass
class Topic:
    sentences: list[Sentence]
    salient: list[int]  # indices into ``sentences``, in spoken order

    @property
    def first_segment(self) -> int:
        return self.sentences[0].segment

    def picked(self) -> list[Sentence]:
        return [self.sentences[i] for i in self.salient]


def split_sentences(lines: TranscriptLines) -> list[Sentence]:
    """Each segment's text cut at sentence ends; every sentence remembers its segment (for citations)."""
    out: list[Sentence] = []
    for i, seg in enumerate(lines.segments):
        out.extend(Sentence(i, part.strip()) for part in SENTENCE_END.split(seg.text.strip()) if part.strip())
    return out


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def gap_scores(bags: Sequence[Counter[str]], window: int) -> list[float]:
    """Similarity across each gap (gap g lies before sentence g, for g in 1..n-1)."""
    scores = []
    for g in range(1, len(bags)):
        left: Counter[str] = Counter()
        right: Counter[str] = Counter()
        for bag in bags[max(0, g - window): g]:
            left.update(bag)
        for bag in bags[g: g + window]:
            right.update(bag)
        scores.append(_cosine(left, right))
    return scores


def depth_scores(scores: Sequence[float]) -> list[float]:
    """How deep each gap's similarity dips below the highest points reached climbing left and right of it."""
    depths = []
    for i, s in enumerate(scores):
        left = i
        while left > 0 and scores[left - 1] >= scores[left]:
            left -= 1
        right = i
        while right < len(scores) - 1 and scores[right + 1] >= scores[right]:
            right += 1
        depths.append((scores[left] - s) + (scores[right] - s))
    return depths


def boundaries(bags: Sequence[Counter[str]], window: int, min_size: int, max_topics: int) -> list[int]:
    """Sentence indices where a new topic starts (0 always), deepest gaps first, no topic under ``min_size``."""
    if len(bags) < 2 * min_size:
        return [0]
    depths = depth_scores(gap_scores(bags, window))
    mean = sum(depths) / len(depths)
    spread = math.sqrt(sum((d - mean) ** 2 for d in depths) / len(depths))
    cutoff = mean - spread / 2  # Hearst's liberal cutoff: a gap deeper than this is a topic change
    chosen: list[int] = []
    for gap in sorted(range(len(depths)), key=lambda g: -depths[g]):
        start = gap + 1
        if depths[gap] <= cutoff or depths[gap] <= 0 or len(chosen) + 1 >= max_topics:
            break
        edges = sorted([0, len(bags), *chosen])
        if all(abs(start - e) >= min_size for e in edges):
            chosen.append(start)
    return sorted([0, *chosen])


def salience(sentence: str, centrality: float, first: bool) -> float:
    """A sentence's claim to stand for its topic: centrality (0-1) plus numbers, dates and names it carries."""
    facts = min(len(NUMBER.findall(sentence)), 2) * 0.35 + min(len(WEEKDAY_OR_MONTH.findall(sentence)), 1) * 0.35
    names = min(len(NAME.findall(sentence)), 2) * 0.2
    return centrality + facts + names + (0.2 if first else 0.0)


def states_something(lines: TranscriptLines, sentence: str) -> bool:
    """Not a question ("When did you open?") nor a bare announcement ("Next, the library."): those carry no fact."""
    if sentence.rstrip().endswith("?"):
        return False
    return len(lines.index.terms(sentence)) >= MIN_TERMS or bool(NUMBER.search(sentence))


def pick_salient(lines: TranscriptLines, sentences: Sequence[Sentence], per_topic: int,
                 min_share: float) -> list[int]:
    """The ``per_topic`` best sentences of a topic (those scoring at least ``min_share`` of the best)."""
    topic_terms = Counter(t for s in sentences for t in lines.index.terms(s.text))
    scored = []
    for i, s in enumerate(sentences):
        terms = lines.index.terms(s.text)
        weight = sum(topic_terms[t] * lines.index.idf(t) for t in terms)
        scored.append((i, weight / (1.0 + len(terms))))  # per word: a long sentence is not central for length
    top_weight = max((w for _, w in scored), default=0.0) or 1.0
    ranked = sorted(((salience(sentences[i].text, w / top_weight, i == 0), i) for i, w in scored
                     if states_something(lines, sentences[i].text)), reverse=True)
    if not ranked:  # nothing but questions and agenda words: the topic's first sentence stands for it
        return [0]
    best = ranked[0][0] if ranked else 0.0
    keep = [i for score, i in ranked[:per_topic] if score >= min_share * best]
    return sorted(keep)


def find_topics(lines: TranscriptLines, *, window: int, min_size: int, max_topics: int, per_topic: int,
                min_share: float) -> list[Topic]:
    sentences = split_sentences(lines)
    if not sentences:
        return []
    bags = [Counter(lines.index.terms(s.text)) for s in sentences]
    starts = boundaries(bags, window, min_size, max_topics)
    topics = []
    for a, b in zip(starts, [*starts[1:], len(sentences)], strict=True):
        part = sentences[a:b]
        topics.append(Topic(part, pick_salient(lines, part, per_topic, min_share)))
    return topics


def top_words(lines: TranscriptLines, topic: Topic, n: int) -> list[str]:
    """The topic's most telling words as spoken (not stemmed), for a title when the LLM gives none."""
    weights: dict[str, float] = {}
    spoken: dict[str, str] = {}
    for s in topic.sentences:
        for word in re.findall(r"[\wÁÉÍÓÚÑáéíóúñ]+", s.text):
            terms = lines.index.terms(word)
            if len(terms) != 1 or word.isdigit():
                continue
            term = next(iter(terms))
            weights[term] = weights.get(term, 0.0) + lines.index.idf(term)
            spoken.setdefault(term, word)
    return [spoken[t] for t in sorted(weights, key=lambda t: -weights[t])[:n]]

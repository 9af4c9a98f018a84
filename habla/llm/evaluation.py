"""Scoring the transcript assistant on an evaluation set (tests/data/assistant_eval, see its README).

Each case is a transcript with its key facts (keywords + the segment that says them) and questions (answer
keywords + segment, or unanswerable). Scores: key-fact recall of a summary, invented claims (a summary line whose
numbers, dates and names its cited segments do not say, or whose words they mostly do not), answer accuracy
(keywords present), right-segment citation, refusals of unanswerable questions and false refusals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from habla.asr.types import Segment, Transcript
from habla.llm.assistant import Answer, fact_tokens
from habla.llm.prompts import TIMESTAMP, parse_timestamp
from habla.llm.retrieval import fold

WORDS_PER_SECOND = 2.5  # conversational speech, for written transcripts given as plain sentences
PAUSE_SECONDS = 0.6


@dataclass
class Case:
    id: str
    language: str
    split: str  # "tune" (constants chosen on these), "heldout" (seen once, then fixed), "heldout2" (never tuned on)
    transcript: Transcript
    facts: list[dict[str, Any]]
    questions: list[dict[str, Any]]


def _timed(rows: Sequence[Any], offset: float = 0.0) -> list[tuple[float, str]]:
    out, t = [], offset
    for row in rows:
        if isinstance(row, str):
            out.append((t, row))
            t += len(row.split()) / WORDS_PER_SECOND + PAUSE_SECONDS
        else:
            out.append((offset + float(row[0]), str(row[1])))
            t = offset + float(row[0]) + len(str(row[1]).split()) / WORDS_PER_SECOND + PAUSE_SECONDS
    return out


def make_transcript(rows: Sequence[tuple[float, str]], language: str) -> Transcript:
    ends = [s for s, _ in rows[1:]] + [rows[-1][0] + len(rows[-1][1].split()) / WORDS_PER_SECOND]
    segments = [Segment(i, start, end, f" {text}")
                for i, ((start, text), end) in enumerate(zip(rows, ends, strict=True))]
    return Transcript(text=" ".join(t for _, t in rows), language=language, language_probability=1.0,
                      duration=ends[-1], segments=segments)


def load_cases(folder: Path) -> list[Case]:
    cases = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        transcript = make_transcript(_timed(data["segments"]), data["language"])
        cases.append(Case(data["id"], data["language"], data["split"], transcript, data["facts"],
                          data["questions"]))
    return cases


def compose(cases: Sequence[Case], case_id: str, min_seconds: float = 0.0) -> Case:
    """One long recording made of several cases in a row (repeated until ``min_seconds`` when asked)."""
    rows: list[tuple[float, str]] = []
    facts: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    t, first_round = 0.0, True
    while first_round or t < min_seconds:
        for case in cases:
            base = len(rows)
            rows.extend((t + s.start, s.text.strip()) for s in case.transcript.segments)
            if first_round:  # facts and questions once: a repeat makes the answer ambiguous
                facts += [{**f, "segment": f["segment"] + base} for f in case.facts]
                questions += [{**q, "segment": q["segment"] + base} if "segment" in q else q
                              for q in case.questions]
            t += case.transcript.duration + 5.0
        first_round = False
    transcript = make_transcript(rows, cases[0].language)
    return Case(case_id, cases[0].language, cases[0].split, transcript, facts, questions)


def _words(text: str) -> str:
    return " " + re.sub(r"[^\w]+", " ", fold(text)).strip() + " "


def _has(text: str, keywords: Iterable[str]) -> bool:
    """Every keyword said (as whole words; a longer keyword may also be part of a word: "chloroplasts")."""
    folded = _words(text)
    return all(_words(k) in folded or (len(k) > 3 and _words(k).strip() in folded) for k in keywords)


@dataclass
class Scores:
    facts: int = 0
    facts_found: int = 0
    claims: int = 0
    invented: int = 0
    answerable: int = 0
    right_fact: int = 0
    right_segment: int = 0
    right_both: int = 0
    false_refusals: int = 0
    unanswerable: int = 0
    refused: int = 0
    summary_seconds: list[float] = field(default_factory=list)
    answer_seconds: list[float] = field(default_factory=list)
    llm_fallbacks: int = 0
    llm_calls: int = 0
    summary_words: int = 0
    transcript_words: int = 0

    def add(self, other: Scores) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def row(self) -> dict[str, object]:
        def pct(a: int, b: int) -> str:
            return f"{100 * a / b:.0f} % ({a}/{b})" if b else "-"

        return {"fact recall": pct(self.facts_found, self.facts), "invented": f"{self.invented}/{self.claims}",
                "answer fact": pct(self.right_fact, self.answerable),
                "answer segment": pct(self.right_segment, self.answerable),
                "fact+segment": pct(self.right_both, self.answerable),
                "refused (unanswerable)": pct(self.refused, self.unanswerable),
                "false refusals": pct(self.false_refusals, self.answerable),
                "summary/transcript words": f"{self.summary_words / max(self.transcript_words, 1):.2f}",
                "summary s (max)": f"{max(self.summary_seconds, default=0):.2f}",
                "answer s (max)": f"{max(self.answer_seconds, default=0):.2f}"}


def score_summary(case: Case, answer: Answer, scores: Scores) -> None:
    segments = case.transcript.segments
    starts: dict[int, list[int]] = {}
    for i, s in enumerate(segments):
        starts.setdefault(int(s.start), []).append(i)
    scores.summary_words += len(TIMESTAMP.sub(" ", answer.text).split())
    scores.transcript_words += sum(len(s.text.split()) for s in segments)
    for fact in case.facts:
        scores.facts += 1
        scores.facts_found += _has(answer.text, fact["keywords"])
    for line in answer.text.splitlines():
        if not line.strip("- ").strip():
            continue
        scores.claims += 1
        cited = [i for m in TIMESTAMP.finditer(line) for i in starts.get(parse_timestamp(m), [])]
        bare = TIMESTAMP.sub(" ", line).strip("- ").strip()
        said = " ".join(segments[i].text for i in cited)
        words = set(re.findall(r"\w+", fold(said)))
        claimed = set(re.findall(r"\w+", fold(bare)))
        facts_missing = {t for t in fact_tokens(bare) if not set(re.findall(r"\w+", t)) <= words}
        if not cited or facts_missing or len(claimed & words) < 0.5 * len(claimed):
            scores.invented += 1


def score_answer(question: dict[str, Any], answer: Answer, scores: Scores) -> None:
    if question.get("unanswerable"):
        scores.unanswerable += 1
        scores.refused += answer.refused
        return
    scores.answerable += 1
    if answer.refused:
        scores.false_refusals += 1
        return
    fact = _has(answer.text, question["keywords"])
    segment = bool(answer.citations) and answer.citations[0].segment_id == question["segment"]
    scores.right_fact += fact
    scores.right_segment += segment
    scores.right_both += fact and segment

"""A session's report: its mistakes, the words the tutor used that the learner has not, how much was said."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from habla.tutor.feedback import words_of
from habla.tutor.history import Session, Turn

MIN_NEW_WORD_LETTERS = 4  # shorter words are mostly articles and pronouns the learner already knows
MAX_NEW_WORDS = 40


@dataclass(frozen=True)
class Mistake:
    turn: int
    kind: str
    original: str
    suggestion: str
    explanation: str
    probability: float | None = None


@dataclass(frozen=True)
class Report:
    session_id: str
    persona: str
    language: str
    level: str
    turn_count: int
    speaking_seconds: float  # the learner's recorded speech (typed turns add nothing)
    words_spoken: int
    mistakes: list[Mistake]
    new_words: list[str]

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for m in self.mistakes:
            counts[m.kind] = counts.get(m.kind, 0) + 1
        return {**asdict(self), "mistake_counts": counts}

    def markdown(self) -> str:
        lines = [f"# Tutor report: {self.persona} ({self.language}, {self.level})", "",
                 f"- Turns: {self.turn_count}", f"- Speaking time: {self.speaking_seconds:.1f} s",
                 f"- Words you used: {self.words_spoken}", "", "## Mistakes", ""]
        lines += [_mistake_line(m) for m in self.mistakes] or ["No mistakes found."]
        lines += ["", "## New words", "", ", ".join(self.new_words) if self.new_words else "None yet."]
        return "\n".join(lines) + "\n"


def _mistake_line(m: Mistake) -> str:
    if m.kind == "pronunciation":
        return f"- Turn {m.turn}, pronunciation: “{m.original}” ({m.explanation})"
    label = m.kind.replace("_", " ")
    return f"- Turn {m.turn}, {label}: “{m.original or '…'}” → “{m.suggestion or '(leave out)'}”"


def new_words(turns: Sequence[Turn]) -> list[str]:
    """Words of the tutor's replies the learner never said, in the order the tutor first used them."""
    used = {w for t in turns for w in words_of(t.user_text)}
    found: list[str] = []
    for turn in turns:
        for word in words_of(turn.reply_text):
            if len(word) >= MIN_NEW_WORD_LETTERS and word not in used and word not in found:
                found.append(word)
    return found[:MAX_NEW_WORDS]


def _mistakes(turn: Turn) -> list[Mistake]:
    return [Mistake(turn.number, c.kind, c.original, c.suggestion, c.explanation, c.probability)
            for c in turn.corrections]


def build_report(session: Session, turns: Sequence[Turn]) -> Report:
    persona = session.persona
    corrections: list[Mistake] = [m for t in turns for m in _mistakes(t)]
    return Report(session_id=session.id, persona=persona.name, language=persona.language, level=persona.level,
                  turn_count=len(turns), speaking_seconds=round(sum(t.speech_seconds for t in turns), 2),
                  words_spoken=sum(len(words_of(t.user_text)) for t in turns), mistakes=corrections,
                  new_words=new_words(turns))


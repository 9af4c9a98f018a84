"""Tutor personas: who the learner talks to, in which language, at which CEFR level, with which voice.

Built-in personas are code; user-defined ones are rows of the tutor store. Both are the same frozen dataclass.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from habla.errors import InvalidOption

LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
# What each level asks of the tutor's own language: the learner must understand the reply to learn from it.
LEVEL_STYLE = {
    "A1": "Use only very simple words and very short sentences in the present tense.",
    "A2": "Use simple everyday words and short sentences.",
    "B1": "Use everyday vocabulary and clear sentences.",
    "B2": "Speak naturally, with some less common words.",
    "C1": "Speak naturally and idiomatically.",
    "C2": "Speak as to a native speaker, idioms included.",
}
LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
                  "pt": "Portuguese"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


@dataclass(frozen=True)
class Persona:
    id: str
    name: str
    language: str  # ISO 639-1: what the learner practises and the tutor speaks
    level: str  # CEFR A1..C2
    prompt: str  # who the tutor is; the level and language instructions are added to it
    voice: str  # a habla TTS voice name (Piper or espeak-<lang>)
    greeting: str = ""  # the first line of a session, also the text of the speaker's reference sample
    builtin: bool = False

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise InvalidOption(f"persona id {self.id!r} is not valid",
                                hint="2-40 characters: lower-case letters, digits and '-'")
        if self.level not in LEVELS:
            raise InvalidOption(f"level {self.level!r} is not a CEFR level", hint=f"use one of {', '.join(LEVELS)}")
        if not self.name.strip() or len(self.name) > 80:
            raise InvalidOption("a persona needs a name of 1-80 characters")
        if not self.prompt.strip() or len(self.prompt) > 2000:
            raise InvalidOption("a persona needs a prompt of 1-2000 characters")
        if len(self.greeting) > 300:
            raise InvalidOption("the greeting is longer than 300 characters")

    @property
    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.language, self.language)

    def system_prompt(self) -> str:
        """The persona, its level and the rule that makes it a tutor rather than a chat partner."""
        return (f"{self.prompt.strip()} The learner's level is {self.level}. {LEVEL_STYLE[self.level]} "
                f"Answer in {self.language_name}, in one or two short sentences, and end with a question "
                "that keeps the conversation going.")

    def sample_text(self) -> str:
        return self.greeting or f"{self.name}."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BUILTIN: dict[str, Persona] = {p.id: p for p in (
    Persona(id="spanish-teacher", name="Lucía", language="es", level="A2", voice="espeak-es", builtin=True,
            prompt="You are Lucía, a patient Spanish teacher from Madrid who helps a beginner practise "
                   "everyday conversation.",
            greeting="¡Hola! Soy Lucía, tu profesora de español. ¿Cómo te llamas?"),
    Persona(id="english-partner", name="Joe", language="en", level="B1", voice="en_US-joe-medium", builtin=True,
            prompt="You are Joe, a friendly conversation partner from Chicago who helps a learner practise "
                   "spoken English about daily life.",
            greeting="Hi, I'm Joe. What did you do today?"),
)}

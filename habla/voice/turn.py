"""Semantic end-of-turn: at each pause, how likely is it that the user has finished? From what was said (the
transcript so far) and how (the pitch at the end of the speech), the end silence becomes adaptive: short after a
finished sentence, long after "I'd like to book a table for…".

Text: Whisper writes a sentence end (. ? !) after a finished sentence and usually none, or "…" / "-", on speech cut
mid-sentence; and a turn rarely ends on an article, a preposition, a conjunction or an auxiliary. Word lists below are
linguistic knowledge (closed word classes), not fitted to any test data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

TurnDetectionType = Literal["semantic", "silence"]
Eagerness = Literal["low", "medium", "high"]
TYPES: tuple[TurnDetectionType, ...] = ("semantic", "silence")
EAGERNESS: tuple[Eagerness, ...] = ("low", "medium", "high")
# How each eagerness scales the (short, long) waits of `medium`.
EAGERNESS_SCALE: dict[Eagerness, tuple[float, float]] = {"low": (1.5, 4 / 3), "medium": (1.0, 1.0),
                                                         "high": (0.75, 2 / 3)}

# Closed-class words a turn does not end on (accents stripped, lowercase).
_NOT_FINAL = {
    "en": set("""a an the to of for from with without in into on onto at by about as than and or but nor so because
        if unless while whereas although though since until till whether my your his her our their its some any every
        each no either neither which whose whom who where when is are was were be been being am have has had do does
        did will would shall should can could may might must not very more most less least just also really quite
        i we he she they me us them let's im i'm i'd i'll we're you're they're it's there's that's what's
        like such this these those""".split()),
    "es": set("""el la los las un una unos unas lo al del de a en con sin por para hacia hasta desde sobre entre
        tras segun y e o u ni pero sino que porque pues aunque si como cuando mientras donde cual cuales cuyo cuya
        mi mis tu tus su sus nuestro nuestra nuestros nuestras vuestro vuestra es son era eran fue ser estar esta
        estan estoy estamos he has ha hemos han habia hay se me te le les nos muy mas menos tan tanto cada algun
        alguna ningun ninguna otro otra otros otras este esta estos estas ese esa esos esas aquel aquella quiero
        quisiera puedo puede voy vamos""".split()),
}
_SENTENCE_END = re.compile(r"[.!?¿¡…。！？]['\"”’)\]]*$")
_UNFINISHED_END = re.compile(r"(\.\.\.|…|[-–—,;:])['\"”’)\]]*$")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)

# Probabilities per case; how they were chosen: docs/talk.md (semantic end-of-turn).
P_NO_TEXT = 0.0
P_UNFINISHED_MARK = 0.05  # "…", "-", "," at the end
P_CLOSED_CLASS = 0.05  # ends on an article, preposition, conjunction...
P_NO_SENTENCE_END = 0.2  # a content word without a full stop: Whisper's mark for speech that stopped mid-way
P_QUESTION = 0.95
P_STATEMENT = 0.85
P_ONE_WORD = 0.5  # "Thanks." is a turn, "Press." is a cut


@dataclass(frozen=True)
class TurnDetection:
    """One session's turn detection, OpenAI Realtime style."""

    type: TurnDetectionType = "semantic"
    eagerness: Eagerness = "medium"
    short_silence_ms: int = 200
    long_silence_ms: int = 1500
    threshold: float = 0.5

    def end_silence_ms(self, probability: float) -> int:
        """Silence after which a turn with this end-of-turn probability is over."""
        short, long = EAGERNESS_SCALE[self.eagerness]
        if probability >= self.threshold:
            return round(self.short_silence_ms * short)
        return max(round(self.long_silence_ms * long), round(self.short_silence_ms * short))

    @property
    def max_silence_ms(self) -> int:
        return self.end_silence_ms(0.0)


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.lower().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def text_completeness(text: str, language: str) -> float:
    """Probability that a turn whose transcript so far is ``text`` is finished (0-1)."""
    text = text.strip()
    words = _WORD.findall(text)
    if not words:
        return P_NO_TEXT
    if _UNFINISHED_END.search(text):
        return P_UNFINISHED_MARK
    if _plain(words[-1]) in _NOT_FINAL.get(language.split("-")[0].lower(), set()):
        return P_CLOSED_CLASS
    if not _SENTENCE_END.search(text):
        return P_NO_SENTENCE_END
    if text.endswith("?") or text.endswith("？"):
        return P_QUESTION
    return P_ONE_WORD if len(words) == 1 else P_STATEMENT

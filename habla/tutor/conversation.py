"""The prompt of the tutor's reply: persona and level, example exchanges in the target language, then the session's
turns (oldest dropped first beyond a token budget) and the learner's new line."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from habla.llm.protocol import ChatMessage
from habla.tutor.history import Turn
from habla.tutor.personas import Persona

# Example exchanges that show what a tutor does: a short, warm answer that asks the learner something back. Kept for
# SmolLM2-135M by measurement (scripts/bench_primers.py, 6 lines per persona): replies ending with a question 5/6 (es)
# and 4/6 (en) with them, 1/6 and 2/6 without, and one echo of the learner's line without them.
PRIMERS = {
    "es": (("Hola, me llamo Ana.", "¡Hola, Ana! Encantada de conocerte. ¿De dónde eres?"),
           ("Me gusta jugar al fútbol.", "¡Qué bien! ¿Con quién juegas al fútbol?")),
    "en": (("Hi, my name is Ana.", "Hi Ana, nice to meet you! Where are you from?"),
           ("I like playing football.", "That's great! Who do you usually play with?")),
}

CountTokens = Callable[[Sequence[ChatMessage]], int]


def reply_messages(persona: Persona, history: Sequence[Turn], user_text: str, count: CountTokens,
                   budget_tokens: int) -> list[ChatMessage]:
    """Messages for the tutor's answer to ``user_text``; whole old turns go first when over the budget."""
    preamble = [ChatMessage("system", persona.system_prompt())]
    for user, tutor in PRIMERS.get(persona.language, PRIMERS["en"]):
        preamble += [ChatMessage("user", user), ChatMessage("assistant", tutor)]
    turns = [m for t in history for m in (ChatMessage("user", t.user_text), ChatMessage("assistant", t.reply_text))]
    new = ChatMessage("user", user_text)
    while turns and count([*preamble, *turns, new]) > budget_tokens:
        turns = turns[2:]
    return [*preamble, *turns, new]

"""Conversation memory: the persona, a primer, and the turns so far, trimmed from the oldest to a token budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from habla.llm.protocol import ChatMessage

# Two example exchanges before the conversation. Written for the pretrained Gemma-3-270M (which echoed a bare
# instruction); kept for the instruction-tuned SmolLM2-135M by measurement (scripts/bench_primers.py, 6 lines per
# language): without them it echoed the user 2/6 times in Spanish (0/6 with them) and introduced itself by the
# persona's name ("Habla, hello!") in English. Languages without their own primer get the English one and an
# instruction.
PRIMERS = {
    "en": (("Hello, how are you?", "I'm doing well, thanks for asking. How can I help?"),
           ("What time does the store open?", "I'm not sure, but most stores open around nine in the morning.")),
    "es": (("Hola, ¿cómo estás?", "Muy bien, gracias por preguntar. ¿En qué puedo ayudarte?"),
           ("¿A qué hora abre la tienda?", "No estoy seguro, pero casi todas abren a las nueve de la mañana.")),
}
LANGUAGE_NAMES = {"es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese"}

CountTokens = Callable[[Sequence[ChatMessage]], int]


class Conversation:
    """Not thread-safe: one per session, used from its event loop."""

    def __init__(self, persona: str, language: str, budget_tokens: int) -> None:
        self.budget_tokens = budget_tokens
        system = persona.strip()
        if language != "en":
            system += f" Always answer in {LANGUAGE_NAMES.get(language, language)}."
        self.preamble: list[ChatMessage] = [ChatMessage("system", system)]
        for user, assistant in PRIMERS.get(language, PRIMERS["en"]):
            self.preamble += [ChatMessage("user", user), ChatMessage("assistant", assistant)]
        self.turns: list[ChatMessage] = []

    def prompt(self, user_text: str, count: CountTokens | None = None) -> list[ChatMessage]:
        """Messages for the reply to ``user_text``; the oldest turns go first when over budget."""
        turns = [*self.turns, ChatMessage("user", user_text)]
        while count is not None and len(turns) > 1 and count([*self.preamble, *turns]) > self.budget_tokens:
            turns = turns[2:] if turns[0].role == "user" and len(turns) > 2 else turns[1:]
        self.turns = turns[:-1]  # dropped turns stay dropped: the prefix stays stable for the LLM's cache
        return [*self.preamble, *turns]

    def said(self, user_text: str) -> tuple[str, ...]:
        """What the next reply must not repeat: the replies still in memory and the user's line (for the LLM's
        repetition penalty, ``ChatOptions.penalize_said``)."""
        return (*(m.content for m in self.turns if m.role == "assistant"), user_text)

    def add(self, user_text: str, reply_heard: str) -> None:
        """Record a turn. An interrupted reply is remembered as far as the user heard it (maybe nothing)."""
        self.turns.append(ChatMessage("user", user_text))
        if reply_heard.strip():
            self.turns.append(ChatMessage("assistant", reply_heard.strip()))

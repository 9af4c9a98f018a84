"""Talk replies with the shipped SmolLM2-135M: a fresh reply every turn, never the user's own words back."""

from __future__ import annotations

import re

import pytest

from habla.config import load_settings
from habla.llm.service import open_engine
from habla.models.store import ModelStore
from habla.voice.memory import Conversation
from habla.voice.session import reply_chat_options

pytest.importorskip("cyllama", reason='needs habla[llm]')

# The 8-turn Spanish conversation of scripts/bench_talk_replies.py --lines held: greedy with no penalty over what was
# said, 7 of its 8 replies were one reply again; with the penalty on the earlier replies only, 6 echoed the user.
USER = ["Buenas tardes, ¿estás ahí?", "Mañana tengo una entrevista de trabajo.", "Es para un puesto en un banco.",
        "Estoy un poco nervioso.", "¿Qué ropa debería llevar?", "¿Y qué digo si me preguntan por mis defectos?",
        "La entrevista es a las nueve de la mañana.", "Vale, gracias, me has ayudado mucho."]


def words(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def echoed(reply: str, line: str) -> bool:
    """The reply starts with most of the user's line."""
    said = words(line)
    return words(reply).startswith(said[:max(8, len(said) * 3 // 5)])


def test_a_spanish_conversation_gets_a_new_reply_every_turn_and_no_echo() -> None:
    settings = load_settings()
    engine = open_engine(settings.llm, ModelStore(settings.models))
    memory = Conversation(settings.voice.persona, "es", settings.voice.context_tokens)
    replies = []
    try:
        for line in USER:
            messages = memory.prompt(line, engine.count_chat_tokens)
            reply = engine.chat(messages, reply_chat_options(settings.llm, settings.voice.max_tokens, memory,
                                                             line)).text().strip()
            memory.add(line, reply)
            replies.append(reply)
    finally:
        engine.close()
    assert all(replies), replies
    assert len({words(r) for r in replies}) == len(USER), replies
    echoes = [r for r, line in zip(replies, USER, strict=True) if echoed(r, line)]
    assert not echoes, replies

"""Do the voice loop and the tutor still need their example exchanges ("primers") with the default LLM?

    .venv/bin/python scripts/bench_primers.py [--show]

The primers were written for the pretrained Gemma-3-270M, which echoed a bare instruction. For each of the voice
persona (en, es) and the two built-in tutor personas, six user lines are answered with and without the primers, with
the options the product uses. Counted per variant: empty replies, echoes (a reply that repeats the user's line or a
primer's reply), replies in the wrong language (more English than Spanish function words for es, or the reverse),
tutor replies that end with a question, and mean words. Greedy voice replies; seeded tutor replies as in a session.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence

from habla.config import load_settings
from habla.llm.protocol import ChatMessage, LLMEngine
from habla.llm.service import chat_options, open_engine
from habla.tutor import conversation
from habla.tutor.personas import BUILTIN, Persona
from habla.voice import memory

LINES = {
    "en": ["Hi, how is it going?", "I went to the cinema yesterday with my sister.", "What should I cook tonight?",
           "I'm a bit tired today.", "Do you like music?", "Tomorrow I have a job interview."],
    "es": ["Hola, ¿qué tal?", "Ayer fui al cine con mi hermana.", "¿Qué puedo cocinar esta noche?",
           "Hoy estoy un poco cansado.", "¿Te gusta la música?", "Mañana tengo una entrevista de trabajo."],
}
FUNCTION_WORDS = {
    "en": {"the", "a", "is", "are", "you", "i", "to", "and", "of", "it", "what", "do", "that", "your", "my"},
    "es": {"el", "la", "los", "las", "es", "de", "que", "y", "en", "un", "una", "tu", "te", "mi", "qué", "por"},
}


def language_of(text: str) -> str:
    words = re.findall(r"\w+", text.lower())
    en = sum(w in FUNCTION_WORDS["en"] for w in words)
    es = sum(w in FUNCTION_WORDS["es"] for w in words)
    return "es" if es > en else "en" if en > es else "?"


def run(engine: LLMEngine, language: str, build: Callable[[str], list[ChatMessage]], max_tokens: int,
        temperature: float, primer_replies: Sequence[str], show: bool, label: str) -> dict[str, float]:
    settings = load_settings()
    empty = echoed = wrong = asks = words = 0
    for i, line in enumerate(LINES[language]):
        options = chat_options(settings.llm, max_tokens=max_tokens, stop=("\n",), repeat_penalty=1.0,
                               temperature=temperature, seed=i + 1)
        reply = " ".join(engine.chat(build(line), options).text().split())
        empty += not reply
        echoed += bool(reply) and (line.lower() in reply.lower() or any(p.lower() in reply.lower()
                                                                        for p in primer_replies))
        wrong += bool(reply) and language_of(reply) not in (language, "?")
        asks += reply.endswith("?")
        words += len(reply.split())
        if show:
            print(f"  [{label}] {line} -> {reply}")
    n = len(LINES[language])
    return {"empty": empty, "echoed": echoed, "wrong language": wrong, "ends with a question": asks,
            "mean words": round(words / n, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every reply")
    args = parser.parse_args()
    settings = load_settings()
    engine = open_engine(settings)
    print(f"{settings.llm.model}; machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for primed in (True, False):
        tag = "with primers" if primed else "without primers"
        for language in ("en", "es"):
            def voice(line: str, language: str = language, primed: bool = primed) -> list[ChatMessage]:
                messages = memory.Conversation(settings.voice.persona, language, 1024).prompt(line)
                return messages if primed else [messages[0], messages[-1]]  # the persona and the line only

            replies = [r for _, r in memory.PRIMERS.get(language, ())] if primed else []
            row = run(engine, language, voice, settings.voice.max_tokens, settings.llm.temperature, replies,
                      args.show, f"voice {language} {tag}")
            print(f"voice {language} {tag}: {row}")
        for persona in BUILTIN.values():
            def tutor(line: str, persona: Persona = persona, primed: bool = primed) -> list[ChatMessage]:
                messages = conversation.reply_messages(persona, [], line, engine.count_chat_tokens,
                                                       settings.tutor.context_tokens)
                return messages if primed else [messages[0], messages[-1]]

            replies = [r for _, r in conversation.PRIMERS.get(persona.language, ())] if primed else []
            row = run(engine, persona.language, tutor, settings.tutor.max_reply_tokens,
                      settings.tutor.reply_temperature, replies, args.show, f"tutor {persona.id} {tag}")
            print(f"tutor {persona.id} ({persona.language}) {tag}: {row}")
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does a talk conversation get a fresh reply every turn? Repeated replies and echoes of the user, per 8-turn chat.

    .venv/bin/python scripts/bench_talk_replies.py [--lines tune|held] [--variant product|no-penalty|replies-only]

Eight user lines are answered in order with the talk session's memory and chat options (greedy, as in a session);
each reply is remembered as heard. Counted per language: distinct replies, replies that repeat an earlier one word
for word, and echoes (a reply that starts with most of the user's line). `product` is what a session does
(voice.session.reply_chat_options); `no-penalty` is the talk options before it (repetition penalty 1.0);
`replies-only` penalises the earlier replies but not the user's line. The `tune` lines chose the product variant;
the `held` lines were written before and read after that choice.
"""

from __future__ import annotations

import argparse
import dataclasses
import re

from habla.config import load_settings
from habla.llm.protocol import ChatOptions
from habla.llm.service import open_engine
from habla.models.store import ModelStore
from habla.voice.memory import Conversation
from habla.voice.session import reply_chat_options

LINES = {
    "tune": {
        "en": ["Hi there, can you hear me?", "I'm planning a trip to the mountains next weekend.",
               "What should I pack for cold weather?", "Do you think it will rain?", "My sister is coming with me.",
               "She doesn't like hiking very much.", "Maybe we could visit a lake instead.",
               "Thanks, that sounds good."],
        "es": ["Hola, ¿me escuchas?", "Estoy pensando en cocinar algo especial esta noche.",
               "¿Qué me recomiendas para cuatro personas?", "Uno de ellos es vegetariano.",
               "No tengo mucho tiempo, una hora como mucho.", "¿Y de postre qué puedo hacer?",
               "Creo que tengo fresas en la nevera.", "Muchas gracias por la ayuda."],
    },
    "held": {
        "en": ["Good morning, are you there?", "I just moved into a new apartment downtown.",
               "The kitchen is really small though.", "How can I make it feel bigger?",
               "I also need a desk for working from home.", "My budget is around two hundred dollars.",
               "Where would you put the desk?", "Great, I'll try that tomorrow."],
        "es": ["Buenas tardes, ¿estás ahí?", "Mañana tengo una entrevista de trabajo.",
               "Es para un puesto en un banco.",
               "Estoy un poco nervioso.", "¿Qué ropa debería llevar?", "¿Y qué digo si me preguntan por mis defectos?",
               "La entrevista es a las nueve de la mañana.", "Vale, gracias, me has ayudado mucho."],
    },
}


def normalized(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def echoes(reply: str, line: str) -> bool:
    said = normalized(line)
    return normalized(reply).startswith(said[:max(8, int(0.6 * len(said)))])


def options_for(variant: str, product: ChatOptions) -> ChatOptions:
    if variant == "no-penalty":
        return dataclasses.replace(product, repeat_penalty=1.0, penalize_said=())
    if variant == "replies-only":
        return dataclasses.replace(product, penalize_said=product.penalize_said[:-1])
    return product


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", choices=sorted(LINES), default="held")
    parser.add_argument("--variant", choices=["product", "no-penalty", "replies-only"], default="product")
    parser.add_argument("--show", action="store_true", help="print every turn")
    args = parser.parse_args()
    settings = load_settings()
    voice = settings.voice
    engine = open_engine(settings.llm, ModelStore(settings.models))
    try:
        for language, lines in LINES[args.lines].items():
            memory = Conversation(voice.persona, language, voice.context_tokens)
            replies = []
            for line in lines:
                messages = memory.prompt(line, engine.count_chat_tokens)
                options = options_for(args.variant, reply_chat_options(settings.llm, voice.max_tokens, memory, line))
                reply = engine.chat(messages, options).text().strip()
                memory.add(line, reply)
                replies.append(reply)
                if args.show:
                    print(f"  user: {line}\n  reply: {reply}")
            seen = [normalized(r) for r in replies]
            repeats = sum(1 for i, r in enumerate(seen) if r in seen[:i])
            echoed = sum(echoes(r, line) for r, line in zip(replies, lines, strict=True))
            print(f"{args.lines} {args.variant} {language}: distinct {len(set(seen))}/{len(seen)}, "
                  f"repeats {repeats}, echoes {echoed}")
    finally:
        engine.close()


if __name__ == "__main__":
    main()

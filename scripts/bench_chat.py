"""Do chat replies end? Each catalog LLM answers a few talk-style prompts with the voice persona.

    .venv/bin/python scripts/bench_chat.py --llm smollm2-135m --llm gemma-3-270m

Per model: replies that ended by themselves (finish_reason stop) within the voice reply budget and the chat
default, replies that repeat the prompt, mean words, and the slowest reply. Shared machines: note the load.
"""

from __future__ import annotations

import argparse
import os
import time

from habla.config import load_settings
from habla.llm.protocol import ChatMessage
from habla.llm.service import chat_options, open_engine
from habla.models.store import ModelStore

PROMPTS = ["Say hello.", "What is the capital of France?", "Can you recommend a good book?",
           "How do I boil an egg?", "What's the weather usually like in London?", "Tell me a fun fact about cats.",
           "What time is it in Tokyo when it is noon in Madrid?", "Give me one tip to sleep better.",
           "¿Cómo estás?", "¿Qué me recomiendas cenar esta noche?"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", action="append")
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    settings = load_settings()
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for name in args.llm or [settings.llm.model]:
        config = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": name})})
        engine = open_engine(config.llm, ModelStore(config.models))
        for label, budget in (("voice", settings.voice.max_tokens), ("chat", settings.llm.max_tokens)):
            ended = echoed = words = 0
            slowest = 0.0
            for prompt in PROMPTS:
                messages = [ChatMessage("system", settings.voice.persona), ChatMessage("user", prompt)]
                started = time.perf_counter()
                stream = engine.chat(messages, chat_options(config.llm, max_tokens=budget))
                reply = stream.text()
                slowest = max(slowest, time.perf_counter() - started)
                ended += stream.usage.finish_reason == "stop"
                echoed += prompt.lower().rstrip("?.") in reply.lower()
                words += len(reply.split())
                if args.show:
                    print(f"  {name} {label} {stream.usage.finish_reason}: {prompt} -> {reply!r}")
            print(f"{name} {label} (max_tokens {budget}): ended {ended}/{len(PROMPTS)}, echoed the prompt "
                  f"{echoed}/{len(PROMPTS)}, mean {words / len(PROMPTS):.0f} words, slowest {slowest:.1f} s")
        engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Prompt text: the Gemma 3 chat template, timestamps as the assistant cites them, and the assistant's prompts.

The Gemma GGUF that habla ships carries no chat template in its metadata, and llama.cpp bindings then fall back to
a generic "User: ... Assistant:" format the model never saw. So the template is written out here, exactly as
Gemma 3's own (system text folded into the first user turn, roles user/model, contents trimmed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from habla.llm.protocol import ChatMessage


def merge_roles(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Fold system text into the first user turn and join consecutive turns of one role (Gemma alternates)."""
    system = "\n\n".join(m.content.strip() for m in messages if m.role == "system")
    merged: list[ChatMessage] = []
    for m in messages:
        if m.role == "system":
            continue
        if merged and merged[-1].role == m.role:
            merged[-1] = ChatMessage(m.role, f"{merged[-1].content}\n\n{m.content.strip()}")
        else:
            merged.append(ChatMessage(m.role, m.content.strip()))
    if system:
        if merged and merged[0].role == "user":
            merged[0] = ChatMessage("user", f"{system}\n\n{merged[0].content}")
        else:
            merged.insert(0, ChatMessage("user", system))
    return merged


def gemma3_prompt(messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
    """The text after <bos> (the tokenizer adds it): ``<start_of_turn>user\\n...<end_of_turn>\\n...``."""
    parts = []
    for m in merge_roles(messages):
        role = "model" if m.role == "assistant" else "user"
        parts.append(f"<start_of_turn>{role}\n{m.content}<end_of_turn>\n")
    if add_generation_prompt:
        parts.append("<start_of_turn>model\n")
    return "".join(parts)


# -- timestamps -----------------------------------------------------------------------------------------
TIMESTAMP = re.compile(r"\[(?:(\d{1,2}):)?(\d{1,3}):(\d{2})\]")


def format_timestamp(seconds: float, hours: bool = False) -> str:
    """``[12:04]``; ``[1:02:03]`` when the transcript is an hour or longer (``hours``)."""
    total = int(max(seconds, 0.0))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"[{h}:{m:02d}:{s:02d}]" if hours or h else f"[{m:02d}:{s:02d}]"


def parse_timestamp(match: re.Match[str]) -> int:
    h, m, s = match.group(1), match.group(2), match.group(3)
    return int(h or 0) * 3600 + int(m) * 60 + int(s)


# -- the assistant's prompts -------------------------------------------------------------------------------
# The LLM never sees a whole transcript: it compresses a topic's picked sentences, titles a chapter, or answers from
# a few lines. Short, one-task prompts with the text last worked best for SmolLM2-135M-Instruct (docs/llm.md);
# the reply must be one line (a newline stops generation).
COMPRESS = {
    "en": "Rewrite this as one short sentence. Keep every name, number and date. Write only the sentence.",
    "es": "Reescribe esto en una sola frase corta. Conserva todos los nombres, números y fechas. "
          "Escribe solo la frase.",
}
TITLE = {
    "en": "Write a title of at most five words for this text. Write only the title.",
    "es": "Escribe un título de cinco palabras como máximo para este texto. Escribe solo el título.",
}
ASK_SYSTEM = {
    "en": "Answer the question in one short sentence using only the transcript lines given.",
    "es": "Responde a la pregunta en una frase corta usando solo las líneas de la transcripción.",
}


def _lang(table: dict[str, str], language: str) -> str:
    return table.get(language, table["en"])


def compress_messages(text: str, language: str = "en") -> list[ChatMessage]:
    return [ChatMessage("system", _lang(COMPRESS, language)), ChatMessage("user", text.strip())]


def title_messages(text: str, language: str = "en") -> list[ChatMessage]:
    return [ChatMessage("system", _lang(TITLE, language)), ChatMessage("user", text.strip())]


def ask_messages(excerpt: str, question: str, language: str = "en") -> list[ChatMessage]:
    return [ChatMessage("system", _lang(ASK_SYSTEM, language)),
            ChatMessage("user", f"{excerpt}\n\nQuestion: {question.strip()}")]

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
# Chosen by trying several on the shipped model (a pretrained 270M, see docs/llm.md): with the transcript first
# and a short instruction last it goes on with lines of key facts; a leading "Transcript:" header or a long
# instruction made it echo the instruction or invent text. Instruction-tuned models do well with these too.
SUMMARY_INSTRUCTION = "Summarize the key facts of this transcript as bullet points, each with its timestamp."
MERGE_INSTRUCTION = "Merge these notes into one list of the key facts as bullet points, each with its timestamp."
ASK_SYSTEM = (
    "You answer questions about a transcript using only the excerpt given. Answer in one or two sentences and cite "
    "the timestamp of the line that answers it, copied exactly, like [12:04]. If the excerpt does not answer the "
    "question, say that the transcript does not say.")


def summary_messages(lines: str) -> list[ChatMessage]:
    return [ChatMessage("user", f"{lines}\n\n{SUMMARY_INSTRUCTION}")]


def merge_messages(partials: str) -> list[ChatMessage]:
    return [ChatMessage("user", f"{partials}\n\n{MERGE_INSTRUCTION}")]


def ask_messages(excerpt: str, question: str) -> list[ChatMessage]:
    return [ChatMessage("system", ASK_SYSTEM),
            ChatMessage("user", f"Transcript excerpt:\n{excerpt}\n\nQuestion: {question.strip()}")]

"""OpenAI's model names, in one place: what each one means here.

Clients configured for OpenAI send its model names. Each name below means "this server's default model of that
kind" (the configured Whisper model, the configured voice, the configured LLM). Dated snapshots of a name
("gpt-4o-mini-tts-2025-12-15", "tts-1-1106", "gpt-4o-mini-2024-07-18") mean the same as the name.
/v1/models lists every alias next to the model it stands for (``alias_of``), so pickers that fill from it offer
only names that work.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["transcription", "speech", "chat"]

TRANSCRIPTION_ALIASES = frozenset({"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"})
SPEECH_ALIASES = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts"})
CHAT_ALIASES = frozenset({"gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4-turbo", "gpt-4",
                          "gpt-3.5-turbo", "gpt-5", "gpt-5-mini", "gpt-5-nano"})
# habla's own generic names, accepted but not listed (they are not OpenAI's and no picker needs them twice).
HABLA_NAMES: dict[Kind, frozenset[str]] = {
    "transcription": frozenset(),
    "speech": frozenset({"habla", "default", "piper", "espeak"}),
    "chat": frozenset({"habla", "default"}),
}
ALIASES: dict[Kind, frozenset[str]] = {"transcription": TRANSCRIPTION_ALIASES, "speech": SPEECH_ALIASES,
                                       "chat": CHAT_ALIASES}
# A snapshot suffix: -2025-12-15 (current style) or -1106 / -0125 (2023 style: month and day).
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|(0[1-9]|1[0-2])\d{2})$")


def undated(name: str) -> str:
    """The name without a snapshot date."""
    return _SNAPSHOT.sub("", name.strip())


def is_alias(name: str, kind: Kind) -> bool:
    """True when ``name`` (or its undated form) means the default model of ``kind``."""
    return undated(name) in ALIASES[kind] or name.strip() in HABLA_NAMES[kind]

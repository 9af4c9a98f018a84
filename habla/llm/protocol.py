"""The one LLM interface: chat messages in, streamed text out. Backends: embedded (llama.cpp), remote (OpenAI API)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from habla.config import LLMSettings
from habla.errors import InvalidOption

_DEFAULTS = LLMSettings()  # the defaults live in config.py; options only name them
Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ("system", "user", "assistant"):
            raise InvalidOption(f"unknown chat role {self.role!r}", hint="use system, user or assistant")


@dataclass(frozen=True)
class ChatOptions:
    """How to generate one reply. Built in one place from settings, CLI flags or an HTTP request."""

    max_tokens: int = _DEFAULTS.max_tokens
    temperature: float = _DEFAULTS.temperature  # 0 = greedy
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = _DEFAULTS.repeat_penalty
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Texts already said (earlier replies, the user's line) that the repetition penalty covers from the first token,
    # as if the reply had just generated them: a small model otherwise repeats its last reply or echoes the user.
    # The embedded engine only; a remote server applies its own penalties to what it generates.
    penalize_said: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InvalidOption("max_tokens must be at least 1")
        if not 0 <= self.temperature <= 2:
            raise InvalidOption("temperature must be between 0 and 2")
        if not 0 < self.top_p <= 1:
            raise InvalidOption("top_p must be in (0, 1]")
        if len(self.stop) > 4:
            raise InvalidOption("at most 4 stop sequences")
        if self.seed is not None and not -(2**63) <= self.seed < 2**64:
            raise InvalidOption("seed must be a 64-bit integer")


@dataclass
class ChatUsage:
    """Filled in while a reply streams; final once the stream is exhausted."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens whose KV cache was reused (embedded prefix cache)
    finish_reason: FinishReason | None = None
    first_token_seconds: float | None = None


@dataclass
class ChatStream:
    """An iterator of text pieces; ``usage`` is complete when iteration ends. ``text()`` drains it."""

    pieces: Iterator[str]
    usage: ChatUsage = field(default_factory=ChatUsage)
    model: str = ""

    def __iter__(self) -> Iterator[str]:
        return self.pieces

    def text(self) -> str:
        return "".join(self.pieces)


@runtime_checkable
class LLMEngine(Protocol):
    """Sync and thread-safe (calls may be serialised inside). ``cancel`` stops a reply between tokens."""

    name: str
    context_size: int

    def chat(self, messages: Sequence[ChatMessage], options: ChatOptions,
             cancel: threading.Event | None = None) -> ChatStream: ...

    def count_tokens(self, text: str) -> int: ...

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of the whole prompt the engine would build for these messages (template included)."""
        ...

    def close(self) -> None: ...


def stop_filter(pieces: Iterator[str], stop: Sequence[str], usage: ChatUsage) -> Iterator[str]:
    """Cut a text stream at the first stop sequence, holding back only what could be the start of one."""
    if not stop:
        yield from pieces
        return
    hold = max(len(s) for s in stop) - 1
    buffer = ""
    for piece in pieces:
        buffer += piece
        cut = min((i for i in (buffer.find(s) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            if buffer[:cut]:
                yield buffer[:cut]
            usage.finish_reason = "stop"
            close = getattr(pieces, "close", None)
            if close:
                close()  # end generation now rather than at max_tokens
            return
        if len(buffer) > hold:
            yield buffer[: len(buffer) - hold]
            buffer = buffer[len(buffer) - hold:]
    if buffer:
        yield buffer

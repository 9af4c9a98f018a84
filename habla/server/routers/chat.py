"""POST /v1/chat/completions: the configured LLM (embedded or remote) behind the OpenAI chat API, so any OpenAI
client can chat with it. Streaming (SSE) and non-streaming; errors are raised as HablaErrors before a stream starts."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, aclosing
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from habla.config import LLMSettings
from habla.errors import InvalidOption, ModelNotFound
from habla.llm.protocol import ChatMessage, ChatStream
from habla.llm.service import LLMService
from habla.models.openai_names import is_alias
from habla.server.dependencies import LLMDep, SlotsDep
from habla.server.disconnect import cancel_on_disconnect
from habla.server.routers.openai_shapes import event_stream, sse

router = APIRouter(tags=["chat"])


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def to_message(self) -> ChatMessage:
        content = self.content
        if isinstance(content, list):  # OpenAI content parts: only text is understood here
            if any(part.get("type") != "text" for part in content):
                raise InvalidOption("only text content parts are supported")
            content = "".join(str(part.get("text", "")) for part in content)
        if self.role == "tool":  # a tool's result, sent back by a client that ran it: the model reads it as input
            return ChatMessage("user", f"Tool result: {content or ''}")
        return ChatMessage("system" if self.role == "developer" else self.role, content or "")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields (penalties, user…) we do not use

    model: str = "default"
    messages: list[MessageIn] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), lt=2**64, description="Reproducible sampling (any 64-bit value).")
    n: int = Field(1, ge=1, le=1, description="Only one choice is generated.")
    stream_options: dict[str, Any] | None = None


def _check_bounds(settings: LLMSettings, body: ChatRequest) -> None:
    """Refuse, before any work, a request that cannot fit the model: too many messages or too many tokens asked."""
    if len(body.messages) > settings.max_messages:
        raise InvalidOption(f"{len(body.messages)} messages; at most {settings.max_messages} are accepted",
                            hint="send the recent part of the conversation")
    asked = body.max_completion_tokens or body.max_tokens
    if asked is not None and asked > settings.context_size:
        raise InvalidOption(f"max_tokens is {asked}; this model's context holds {settings.context_size} tokens "
                            "(prompt and reply together)", hint="ask for fewer tokens")


def _check_model(service: LLMService, requested: str) -> str:
    name = service.model_name
    if not is_alias(requested, "chat") and requested != name:
        raise ModelNotFound(f"model {requested!r} is not served here",
                            hint=f"this server's LLM is {name!r}; OpenAI names such as gpt-4o-mini mean it too")
    return name


def _open(service: LLMService, body: ChatRequest, cancel: threading.Event) -> tuple[ChatStream, ExitStack]:
    """Hold the engine and send the prompt; the caller closes the stack when the reply is read."""
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    options = service.chat_options(max_tokens=body.max_completion_tokens or body.max_tokens,
                                   temperature=body.temperature, top_p=body.top_p, seed=body.seed,
                                   stop=tuple(stop) if stop else None)
    messages = [m.to_message() for m in body.messages]
    stack = ExitStack()
    try:
        engine = stack.enter_context(service.engine())
        return engine.chat(messages, options, cancel), stack
    except BaseException:
        stack.close()
        raise


def _usage(stream: ChatStream) -> dict[str, Any]:
    u = stream.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.prompt_tokens + u.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cached_tokens}}


def _finish(stream: ChatStream) -> str:
    return "length" if stream.usage.finish_reason == "length" else "stop"


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, body: ChatRequest, service: LLMDep,
                           slots: SlotsDep) -> dict[str, Any] | EventSourceResponse:
    model = _check_model(service, body.model)
    _check_bounds(service.llm, body)
    async with AsyncExitStack() as held:
        await held.enter_async_context(slots.llm.slot())  # 429 + Retry-After when the LLM's queue is full
        cancel = threading.Event()
        watch = asyncio.create_task(cancel_on_disconnect(request, cancel))  # a client that leaves stops its work
        held.callback(watch.cancel)
        stream, stack = await run_in_threadpool(_open, service, body, cancel)
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not body.stream:
            try:
                text = await run_in_threadpool(stream.text)
            finally:
                stack.close()
            return {"id": reply_id, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                                 "logprobs": None, "finish_reason": _finish(stream)}],
                    "usage": _usage(stream)}
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        # The slot and the disconnect watch go with the stream: released after its last event.
        events = _events(request, stream, stack, cancel, reply_id, created, model, include_usage, held.pop_all())
    return event_stream(events)


class _Release:
    """Closes the engine's stack once, from whichever side finishes first (the reader thread or the response)."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack, self._lock, self._done = stack, threading.Lock(), False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._stack.close()


def _pieces(stream: ChatStream, release: _Release) -> Iterator[str]:
    try:
        yield from stream
    finally:
        release()


async def _events(request: Request, stream: ChatStream, stack: ExitStack, cancel: threading.Event, reply_id: str,
                  created: int, model: str, include_usage: bool,
                  slot: AsyncExitStack) -> AsyncIterator[ServerSentEvent]:
    chunks = _chunks(request, stream, stack, cancel, reply_id, created, model, include_usage)
    async with slot, aclosing(chunks):  # the LLM slot is held until the last event; closing stops generation
        async for event in chunks:
            yield event


async def _chunks(request: Request, stream: ChatStream, stack: ExitStack, cancel: threading.Event, reply_id: str,
                  created: int, model: str, include_usage: bool) -> AsyncGenerator[ServerSentEvent, None]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> ServerSentEvent:
        return sse({"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra})

    release = _Release(stack)
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for piece in iterate_in_threadpool(_pieces(stream, release)):
            if await request.is_disconnected():
                break
            yield chunk({"content": piece})
        yield chunk({}, _finish(stream))
        if include_usage:
            usage = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [], "usage": _usage(stream)}
            yield sse(usage)
        yield ServerSentEvent("[DONE]", sep="\n")
    finally:
        cancel.set()  # stops generation at the next token if the client went away
        if stream.usage.finish_reason is not None:
            release()  # otherwise the reader thread releases when it sees the cancel

"""A remote LLM: any OpenAI-compatible /v1/chat/completions (Ollama, vLLM, llama.cpp server, OpenAI, habla itself).

Errors are turned into HablaErrors that say which endpoint failed and what to check, before any text streams:
the request is sent when ``chat()`` is called, and only the reading of the reply is lazy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from habla.errors import HablaError, InvalidOption, LLMUnavailable, ModelNotFound
from habla.llm.protocol import ChatMessage, ChatOptions, ChatStream, ChatUsage

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 3  # no tokenizer for a remote model: over-count (English runs ~4 characters a token)


class RemoteEngine:
    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0,
                 connect_timeout: float = 5.0, context_size: int = 8192) -> None:
        try:
            import httpx
            from openai import OpenAI
        except ImportError as exc:
            raise LLMUnavailable("a remote LLM needs the openai package", hint='pip install "habla[llm]"') from exc
        self.base_url = base_url.rstrip("/")
        self.name = model
        self.context_size = context_size
        # Local servers want no key, but the SDK insists on one.
        self._client = OpenAI(base_url=self.base_url, api_key=api_key or "none", max_retries=0,
                              timeout=httpx.Timeout(timeout, connect=connect_timeout))  # type: ignore[arg-type]  # SDK stubs name a fork of httpx

    def count_tokens(self, text: str) -> int:
        return len(text) // CHARS_PER_TOKEN + 1

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return sum(self.count_tokens(m.content) + 4 for m in messages) + 2

    def chat(self, messages: Sequence[ChatMessage], options: ChatOptions,
             cancel: threading.Event | None = None) -> ChatStream:
        usage = ChatUsage(prompt_tokens=self.count_chat_tokens(messages))
        request: dict[str, Any] = dict(
            model=self.name, messages=[{"role": m.role, "content": m.content} for m in messages],
            max_tokens=options.max_tokens, temperature=options.temperature, top_p=options.top_p, stream=True,
            stream_options={"include_usage": True})
        if options.stop:
            request["stop"] = list(options.stop)
        if options.seed is not None:
            request["seed"] = options.seed
        started = time.perf_counter()
        try:
            stream = self._client.chat.completions.create(**request)
        except Exception as exc:  # every SDK error becomes a HablaError
            raise self._error(exc) from exc
        return ChatStream(self._pieces(stream, usage, cancel or threading.Event(), started), usage, self.name)

    def _pieces(self, stream: Any, usage: ChatUsage, cancel: threading.Event, started: float) -> Iterator[str]:
        try:
            for chunk in stream:
                if cancel.is_set():
                    usage.finish_reason = "cancelled"
                    return
                if chunk.usage:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        if usage.first_token_seconds is None:
                            usage.first_token_seconds = time.perf_counter() - started
                        if not chunk.usage:
                            usage.completion_tokens += 1  # one token a chunk, until the server says
                        yield choice.delta.content
                    if choice.finish_reason:
                        usage.finish_reason = "length" if choice.finish_reason == "length" else "stop"
        except HablaError:
            raise
        except Exception as exc:  # a dropped connection mid-reply
            raise self._error(exc) from exc
        finally:
            stream.close()

    def close(self) -> None:
        self._client.close()

    def models(self) -> list[str]:
        return [m.id for m in self._client.models.list()]

    def _error(self, exc: Exception) -> HablaError:
        import openai

        where = f"the LLM server at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return LLMUnavailable(f"{where} did not answer in time", hint="raise HABLA_LLM__TIMEOUT_SECONDS, or "
                                  "check that the server is not overloaded")
        if isinstance(exc, openai.APIConnectionError):
            return LLMUnavailable(f"cannot connect to {where}",
                                  hint="is the server running? check HABLA_LLM__BASE_URL (e.g. http://127.0.0.1:11434/v1)")
        if isinstance(exc, openai.NotFoundError):
            return ModelNotFound(f"{where} has no model {self.name!r}", hint=self._models_hint())
        if isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):  # the request, not the server
            return InvalidOption(f"{where} refused the request: {_message(exc)}")
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return LLMUnavailable(f"{where} refused the request ({exc.status_code})", hint="set HABLA_LLM__API_KEY")
        if isinstance(exc, openai.APIStatusError):
            return LLMUnavailable(f"{where} answered {exc.status_code}: {_message(exc)}")
        return LLMUnavailable(f"{where} failed: {type(exc).__name__}: {exc}")

    def _models_hint(self) -> str:
        try:
            names = self.models()
        except Exception:  # noqa: BLE001 — the hint is a courtesy
            return "set HABLA_LLM__MODEL to a model the server has"
        return f"models there: {', '.join(names[:20]) or 'none'}; set HABLA_LLM__MODEL"


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))

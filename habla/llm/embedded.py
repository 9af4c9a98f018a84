"""The embedded LLM: a GGUF model run in-process by llama.cpp through cyllama (see docs/llm.md for the choice).

Speed on a small CPU comes from: one context created at load and kept (no per-call allocation), a warm-up decode
at load (pages the mmap'd weights in), threads = physical cores unless the cores are contended (``ThreadGovernor``),
and a prefix cache: the KV cache of the last prompt is kept, and the next prompt only evaluates the tokens after
the longest common prefix (a fixed system prompt, the earlier turns of a chat, the transcript of a follow-up question).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from habla.errors import InvalidOption, LLMUnavailable
from habla.hardware import physical_cores
from habla.llama_cpp_adapter import GGUFModel, LlamaContext, Sampler
from habla.llm.prompts import gemma3_prompt
from habla.llm.protocol import (
    ChatMessage,
    ChatOptions,
    ChatStream,
    ChatUsage,
    stop_filter,
)

log = logging.getLogger(__name__)
PENALTY_WINDOW = 64  # tokens the repetition penalty looks back over
SLOW_FACTOR = 3.0  # a token this much slower than the best seen with all threads: a core is taken
SLOW_STREAK = 2  # ...this many times in a row (one slow token can be a page fault or a GC pause)
PROBE_EVERY = 32  # tokens between tries of all threads again while the cores are contended
PROBE_GAIN = 0.8  # all threads must beat one thread's best token time by this factor to be taken back


class _Stop(Protocol):
    def is_set(self) -> bool: ...


class _Either:
    """Set when any of its events is: the caller's cancel, or the reader closing the reply."""

    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


ABORT_POLL_SECONDS = 0.05  # how often a prefill's cancel event is passed on to llama.cpp's abort flag


@contextmanager
def _abort_on(cancel: _Stop, ctx: LlamaContext) -> Iterator[None]:
    """While the block runs, a set ``cancel`` raises llama.cpp's abort flag (checked between graph ops). The relay
    thread is not waited for at the end (that would add up to a poll interval to every reply): the lock makes sure
    it can no longer raise the flag once the block is over."""
    done, lock = threading.Event(), threading.Lock()

    def relay() -> None:
        while not done.is_set():
            if cancel.is_set():  # any _Stop (the caller's event, or either of two): polled
                with lock:
                    if not done.is_set():
                        ctx.abort = True
                return
            done.wait(ABORT_POLL_SECONDS)

    threading.Thread(target=relay, name="habla-llm-abort", daemon=True).start()
    try:
        yield
    finally:
        with lock:
            done.set()
            ctx.abort = False


@dataclass
class ThreadStats:
    full: int  # threads when the cores are free
    replies: int = 0
    fallbacks: int = 0  # times decode dropped to one thread because another process held a core
    recoveries: int = 0  # times a probe found the cores free again


class ThreadGovernor:
    """Picks llama.cpp's thread count from measured token times.

    llama.cpp's threads meet at a barrier after every op of every token. When another process holds one of the
    cores, that barrier waits for a scheduler slice, and decode on 2 cores fell from 39 to 1.4 tokens/s here,
    while one thread kept 21-23 tokens/s (docs/llm.md). So: decode with all threads, drop to one after a few
    tokens far slower than the best seen, and try all threads again every ``PROBE_EVERY`` tokens.
    """

    def __init__(self, full: int, adaptive: bool = True) -> None:
        self.stats = ThreadStats(full)
        self.adaptive = adaptive
        self.contended = False
        self._best: dict[int, float] = {}
        self._slow = 0

    def start(self) -> int:
        """Threads for the next reply's prompt and first token."""
        self.stats.replies += 1
        self._slow = 0
        return 1 if self.contended else self.stats.full

    def next(self, threads: int, seconds: float, index: int) -> int:
        """Threads for the token after one that took ``seconds`` with ``threads`` (the ``index``-th of the reply)."""
        full = self.stats.full
        best = self._best[threads] = min(self._best.get(threads, seconds), seconds)
        if full == 1 or not self.adaptive:
            return threads
        if threads == full and self.contended:  # a probe: one token decides
            if seconds < PROBE_GAIN * self._best.get(1, seconds / PROBE_GAIN):
                self.contended = False
                self.stats.recoveries += 1
                return full
            return 1
        if threads == full:
            self._slow = self._slow + 1 if seconds > SLOW_FACTOR * best else 0
            if self._slow >= SLOW_STREAK:
                self.contended = True
                self.stats.fallbacks += 1
                return 1
            return full
        return full if index % PROBE_EVERY == 0 else 1


class EmbeddedEngine:
    """One llama.cpp model and context. Calls are serialised: a context holds one conversation's KV cache."""

    def __init__(self, model_path: str | Path, *, name: str = "", context_size: int = 8192, threads: int = 0,
                 batch_size: int = 512, warm: bool = True, adaptive_threads: bool = True) -> None:
        self.path = Path(model_path)
        self.name = name or self.path.stem
        self._model = GGUFModel(self.path)  # memory-mapped: weights stay in the page cache, shared between processes
        self.context_size = min(context_size, self._model.n_ctx_train)
        self.threads = threads or physical_cores()
        self._batch = batch_size
        self._ctx: LlamaContext | None = self._new_context()
        self._template = self._model.meta("tokenizer.chat_template")
        self._arch = self._model.meta("general.architecture")
        self._cached: list[int] = []  # tokens whose KV is in the context, in order from position 0
        self._lock = threading.Lock()
        self._governor = ThreadGovernor(self.threads, adaptive_threads)
        if warm:
            self.warm()

    def _new_context(self) -> LlamaContext:
        # Sliding-window layers keep full KV, so a cached prefix can be kept and the rest removed. Cancellable:
        # llama.cpp polls a flag between graph ops, so a cancel stops even one long prompt batch (seconds on a busy
        # CPU: a 512-token batch took up to 7 s here with the cores shared, past the 1 s target).
        return self._model.context(self.context_size, self._batch, self.threads, keep_swa=True, cancellable=True)

    # -- LLMEngine --------------------------------------------------------------------------------------
    def prompt_text(self, messages: Sequence[ChatMessage]) -> str:
        """The exact text the model sees after <bos>: the GGUF's own template, or Gemma 3's for Gemma models."""
        if self._template:
            return self._model.apply_template(self._template, [(m.role, m.content) for m in messages], True)
        if self._arch.startswith("gemma"):
            return gemma3_prompt(messages)
        raise InvalidOption(f"model {self.name} has no chat template in its GGUF metadata",
                            hint="use a GGUF converted with its tokenizer's chat template")

    def tokenize_chat(self, messages: Sequence[ChatMessage]) -> list[int]:
        return self._model.tokenize(self.prompt_text(messages), add_special=True, parse_special=True)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenize(text, add_special=False, parse_special=False))

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self.tokenize_chat(messages))

    def chat(self, messages: Sequence[ChatMessage], options: ChatOptions,
             cancel: threading.Event | None = None) -> ChatStream:
        tokens = self.tokenize_chat(messages)
        if len(tokens) >= self.context_size:
            raise InvalidOption(f"the prompt has {len(tokens)} tokens; the model's context is {self.context_size}",
                                hint="shorten the conversation or raise HABLA_LLM__CONTEXT_SIZE")
        usage = ChatUsage(prompt_tokens=len(tokens))
        pieces = self._generate(tokens, options, usage, cancel or threading.Event())
        return ChatStream(stop_filter(pieces, options.stop, usage), usage, self.name)

    def warm(self, messages: Sequence[ChatMessage] | None = None) -> None:
        """Evaluate a prompt now: pages the weights in, and with ``messages`` keeps their KV for the next call."""
        messages = messages or [ChatMessage("user", "Hello")]
        # A few decoded tokens also give the thread governor its first token times.
        for _ in self._generate(self.tokenize_chat(messages), ChatOptions(max_tokens=4), ChatUsage(),
                                threading.Event()):
            pass

    def clear_cache(self) -> None:
        """Forget the cached prefix: the next prompt is evaluated from its first token."""
        with self._lock:
            if self._ctx is not None:
                self._ctx.clear()
            self._cached = []

    @property
    def thread_stats(self) -> ThreadStats:
        return self._governor.stats

    def close(self) -> None:
        with self._lock:
            self._ctx = None
            self._cached = []

    # -- generation -------------------------------------------------------------------------------------
    def _generate(self, tokens: list[int], options: ChatOptions, usage: ChatUsage,
                  cancel: threading.Event) -> Iterator[str]:
        """The reply's pieces. Generation runs on a thread of its own, the only holder of the context's lock, so the
        lock is never held across a ``yield``: a reader that stops reading (and never closes this generator) keeps
        the model from the next caller for at most the rest of its ``max_tokens``, not until garbage collection."""
        pieces: queue.SimpleQueue[str | BaseException | None] = queue.SimpleQueue()
        closed = threading.Event()

        def produce() -> None:
            try:
                for piece in self._generate_locked(tokens, options, usage, _Either(cancel, closed)):
                    pieces.put(piece)
            except BaseException as exc:  # noqa: BLE001 — not swallowed: handed to the reader, which raises it
                pieces.put(exc)
                return
            pieces.put(None)

        threading.Thread(target=produce, name=f"llm-{self.name}", daemon=True).start()
        try:
            while (item := pieces.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            closed.set()  # the reader is gone: stop at the next token

    def _generate_locked(self, tokens: list[int], options: ChatOptions, usage: ChatUsage,
                         cancel: _Stop) -> Iterator[str]:
        with self._lock:
            if self._ctx is None:
                raise LLMUnavailable(f"model {self.name} was unloaded")
            started = time.perf_counter()
            threads = self._governor.start()
            self._ctx.set_threads(threads)
            if not self._prefill(tokens, usage, cancel):
                usage.finish_reason = "cancelled"
                return
            yield from self._decode_loop(tokens, options, usage, cancel, started, threads)

    def _prefill(self, tokens: list[int], usage: ChatUsage, cancel: _Stop) -> bool:
        ctx = self._ctx
        if ctx is None:
            raise LLMUnavailable(f"model {self.name} was unloaded")
        # Reuse the cached prefix; at least one token must be evaluated to get logits for the first sample.
        keep = min(common_prefix(self._cached, tokens), len(tokens) - 1)
        if not ctx.keep_prefix(keep):
            ctx.clear()
            keep = 0
        self._cached = tokens[:keep]
        usage.cached_tokens = keep
        with _abort_on(cancel, ctx):
            for i in range(keep, len(tokens), self._batch):
                if cancel.is_set():
                    return False
                batch = tokens[i: i + self._batch]
                try:
                    ctx.decode(batch, i)
                except InterruptedError:
                    # Cancelled inside the batch: its KV is partial, what came before it is whole. Talk cancels
                    # speculative replies here; forgetting the whole cache cost the next reply 0.8 s (the whole
                    # conversation evaluated again, docs/talk.md).
                    if not ctx.keep_prefix(i):
                        ctx.clear()
                        self._cached = []
                    return False
                self._cached.extend(batch)
        return True

    def _sampler(self, options: ChatOptions) -> Sampler:
        # llama.cpp seeds are 32-bit; any 64-bit seed maps onto one, the same one every time.
        seed = options.seed % 2**32 if options.seed is not None else random.getrandbits(31)
        said = self._said_tokens(options) if options.repeat_penalty != 1.0 else []
        # The window spans what was said and the whole reply: no said token leaves it while the reply is made.
        window = max(PENALTY_WINDOW, len(said) + options.max_tokens) if said else PENALTY_WINDOW
        sampler = Sampler(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p, seed=seed,
                          repeat_penalty=options.repeat_penalty, penalty_window=window)
        sampler.accept(said)
        return sampler

    def _said_tokens(self, options: ChatOptions) -> list[int]:
        return [token for text in options.penalize_said
                for token in self._model.tokenize(text, add_special=False, parse_special=False)]

    def _decode_loop(self, tokens: list[int], options: ChatOptions, usage: ChatUsage, cancel: _Stop,
                     started: float, threads: int) -> Iterator[str]:
        ctx, model = self._ctx, self._model
        if ctx is None:
            raise LLMUnavailable(f"model {self.name} was unloaded")
        sampler = self._sampler(options)
        out: list[int] = []
        emitted = ""
        usage.finish_reason = "length"
        pos = len(tokens)
        while len(out) < options.max_tokens:
            if cancel.is_set():
                usage.finish_reason = "cancelled"
                return
            token = sampler.sample(ctx)
            if usage.first_token_seconds is None:
                usage.first_token_seconds = time.perf_counter() - started
            if model.ends_turn(token):  # end of generation, or <start_of_turn> etc.: the turn is over
                usage.finish_reason = "stop"
                return
            out.append(token)
            usage.completion_tokens = len(out)
            text = self._detokenize(out)
            if not text.endswith("\ufffd"):  # hold back a character split across tokens
                if len(text) > len(emitted):
                    yield text[len(emitted):]
                emitted = text
            if pos + 1 >= self.context_size:
                return
            tick = time.perf_counter()
            ctx.decode([token], pos)
            self._cached.append(token)
            pos += 1
            wanted = self._governor.next(threads, time.perf_counter() - tick, len(out))
            if wanted != threads:
                threads = wanted
                ctx.set_threads(threads)

    def _detokenize(self, tokens: list[int]) -> str:
        try:
            return self._model.detokenize(tokens, max_chars=16 * len(tokens) + 64)
        except UnicodeDecodeError:
            return "\ufffd"

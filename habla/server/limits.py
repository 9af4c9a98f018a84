"""Admission control: a bounded number of heavy runs at once per kind of work (transcription, LLM, speech), a
bounded queue for each, and per-key request rates.

Engines are synchronous and CPU-bound, so the server runs them in threads behind an asyncio semaphore. Requests
beyond ``limit + max_queue`` are refused at once with 429 and a Retry-After, rather than piling up. Nothing else
waits on these slots: /healthz, /metrics and the light routes answer while every slot is taken.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from habla.config import ServerSettings

from habla.server.errors import RateLimited


class ConcurrencyLimiter:
    """``async with limiter.slot():`` waits for one of ``limit`` slots, or raises RateLimited when the queue is
    full. ``in_flight`` and ``waiting`` feed the metrics."""

    def __init__(self, limit: int, max_queue: int, what: str = "transcriptions") -> None:
        self.limit, self.max_queue, self.what = limit, max_queue, what
        self._semaphore = asyncio.Semaphore(limit)
        self.in_flight = 0
        self.waiting = 0
        self._recent_seconds = 5.0  # moving estimate of one run's duration, for Retry-After

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self.waiting >= self.max_queue:
            retry = self._recent_seconds * (self.waiting + self.in_flight) / self.limit
            raise RateLimited(f"server busy: {self.in_flight} {self.what} running and {self.waiting} waiting",
                              retry_after=retry, hint="retry after the delay in the Retry-After header")
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        started = time.monotonic()
        try:
            yield
        finally:
            self.in_flight -= 1
            self._semaphore.release()
            self._recent_seconds = 0.8 * self._recent_seconds + 0.2 * (time.monotonic() - started)


@dataclass(frozen=True)
class Slots:
    """One limiter per kind of heavy work, so a burst of one kind cannot starve the others (a sentence of speech
    does not queue behind minutes-long transcriptions). A tutor turn takes a transcription slot, then an LLM slot."""

    transcription: ConcurrencyLimiter
    llm: ConcurrencyLimiter
    speech: ConcurrencyLimiter

    @classmethod
    def from_settings(cls, server: ServerSettings, transcriptions: int | None = None) -> Slots:
        """``transcriptions`` overrides ``server.max_concurrency`` (batching admits many at once)."""
        return cls(transcription=ConcurrencyLimiter(transcriptions or server.max_concurrency, server.max_queue,
                                                    "transcriptions"),
                   llm=ConcurrencyLimiter(server.llm_concurrency, server.max_queue, "LLM requests"),
                   speech=ConcurrencyLimiter(server.speech_concurrency, server.max_queue, "speech syntheses"))


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests, refilled continuously (a burst of up to ``per_minute``)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, last refill)

    def check(self, key: str) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self.per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise RateLimited(f"rate limit of {self.per_minute} requests per minute reached",
                              retry_after=math.ceil((1.0 - tokens) * 60.0 / self.per_minute))
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:  # forget idle keys (full buckets) so many client addresses stay cheap
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.per_minute - 1}

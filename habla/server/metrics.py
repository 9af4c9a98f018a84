"""Prometheus metrics, one registry per app (so several apps in one process never collide).

Requests are counted by route template (``/v1/jobs/{job_id}``), never by raw path, so labels stay bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("habla_http_requests", "HTTP requests by route and status.",
                                ("method", "route", "status"), registry=r)
        self.latency = Histogram("habla_http_request_duration_seconds", "Time to the end of the response.",
                                 ("method", "route"), buckets=LATENCY_BUCKETS, registry=r)
        self.audio_seconds = Counter("habla_audio_seconds_processed", "Seconds of audio transcribed or translated.",
                                     ("task",), registry=r)
        self.queue_depth = Gauge("habla_transcription_queue_depth", "Requests waiting for a transcription slot.",
                                 registry=r)
        self.in_flight = Gauge("habla_transcriptions_in_flight", "Transcriptions running now.", registry=r)
        self.model_loads = Counter("habla_model_loads", "Models loaded.", ("model",), registry=r)
        self.model_load_seconds = Histogram("habla_model_load_seconds", "Time to load a model.", ("model",),
                                            registry=r)
        self.batch_size = Histogram("habla_asr_batch_size",
                                    "Speech chunks (or language detections) decoded in one model call.",
                                    buckets=BATCH_SIZE_BUCKETS, registry=r)
        self.batch_wait = Histogram("habla_asr_batch_wait_seconds",
                                    "Time a speech chunk or detection waited for its model call.",
                                    ("priority",), buckets=LATENCY_BUCKETS, registry=r)
        self.batch_queue = Gauge("habla_asr_batch_queue_chunks",
                                 "Speech chunks and detections waiting for a model call.", registry=r)
        self.packed_windows = Counter("habla_asr_packed_windows", "Whisper windows decoded with packing on.",
                                      registry=r)
        self.packed_chunks = Counter("habla_asr_packed_chunks", "Speech chunks decoded in packed windows.",
                                     registry=r)
        self.pack_split_failures = Counter("habla_asr_pack_split_failures", "Packed chunks whose words could not "
                                           "be split by time, decoded again alone.", registry=r)
        self.model_unloads = Counter("habla_model_unloads", "Models unloaded (idle or on shutdown).", ("model",),
                                     registry=r)

    def watch(self, waiting: Callable[[], int], running: Callable[[], int]) -> None:
        """Read queue depth and in-flight count at scrape time from the limiter."""
        self.queue_depth.set_function(waiting)
        self.in_flight.set_function(running)

    def watch_batching(self, queued: Callable[[], int]) -> None:
        self.batch_queue.set_function(queued)

    def on_batch(self, size: int, waits: Sequence[tuple[str, float]]) -> None:
        self.batch_size.observe(size)
        for priority, seconds in waits:
            self.batch_wait.labels(priority).observe(seconds)

    def on_packing(self, windows: int, chunks: int, alone: int) -> None:
        self.packed_windows.inc(windows)
        self.packed_chunks.inc(chunks)
        self.pack_split_failures.inc(alone)

    def on_model_load(self, key: Hashable, seconds: float) -> None:
        self.model_loads.labels(str(key)).inc()
        self.model_load_seconds.labels(str(key)).observe(seconds)

    def on_model_unload(self, key: Hashable) -> None:
        self.model_unloads.labels(str(key)).inc()


class MetricsMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware), so streamed responses pass through untouched and are timed to the end."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)

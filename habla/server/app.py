"""``create_app(settings)``: the FastAPI app behind ``habla serve``.

One Transcriber and one JobService per app, built in the lifespan and shared through ``app.state``
(``settings``, ``transcriber``, ``jobs``, ``limiter``, ``rate_limiter``, ``metrics``). Routers come from the one
list ``ROUTERS``; all but ``PUBLIC`` ones require the API key when keys are configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from habla import __version__
from habla.config import Settings, load_settings
from habla.server import errors
from habla.server.auth import authenticate
from habla.server.limits import ConcurrencyLimiter, RateLimiter
from habla.server.metrics import Metrics, MetricsMiddleware
from habla.server.routers import assistant, audio, chat, health, jobs, metrics, models, speech, tutor, voice_ws
from habla.web import routes as web

log = logging.getLogger(__name__)

ROUTERS: list[APIRouter] = [
    audio.router,
    models.router,
    health.router,
    metrics.router,
    jobs.router,
    chat.router,
    assistant.router,
    speech.router,
    voice_ws.router,
    tutor.router,
    web.router,
]
PUBLIC: tuple[APIRouter, ...] = (health.router, metrics.router,  # probes and scrapers carry no key
                                 voice_ws.router,  # checks keys itself: a WebSocket may carry one as ?api_key=
                                 web.router)  # pages and assets; their scripts send the key to /v1


class UploadLimit:
    """The body limit of the synchronous audio uploads (jobs have their own, larger, limit). A declared
    Content-Length over it is refused before reading; a chunked body is cut by Starlette's limit, which FastAPI
    turns into a 413 HTTPException while parsing the form (shaped by errors.py)."""

    def __init__(self, app: ASGIApp, max_bytes: int, paths: tuple[str, ...]) -> None:
        self.app, self.paths, self.max_bytes = app, paths, max_bytes
        self.limited = RequestBodyLimitMiddleware(app, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            mb = self.max_bytes >> 20
            response = errors.error_response(413, f"the upload is larger than this server's limit of {mb} MB",
                                             "upload_too_large", "file")
            await response(scope, receive, send)
            return
        await self.limited(scope, receive, send)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from habla.asr.transcriber import Transcriber
    from habla.jobs.service import JobService

    settings: Settings = app.state.settings
    metrics_: Metrics = app.state.metrics
    # Without batching the model runs as many transcriptions at once as the server admits (CTranslate2 would queue
    # the rest); with it, the scheduler makes ``batching.workers`` model calls at a time.
    parallel = settings.batching.workers if settings.batching.enabled else settings.server.max_concurrency
    parallel = max(settings.asr.parallel, parallel)
    asr_settings = settings.model_copy(update={"asr": settings.asr.model_copy(update={"parallel": parallel})})
    transcriber = Transcriber(asr_settings, on_load=metrics_.on_model_load, on_unload=metrics_.on_model_unload,
                              batch_observer=metrics_)
    metrics_.watch_batching(transcriber.queued_chunks)
    service = JobService(settings, transcriber)
    service.start()
    app.state.transcriber, app.state.jobs = transcriber, service
    warm = asyncio.get_running_loop().run_in_executor(None, _warm, transcriber)
    try:
        yield
    finally:
        service.stop()
        await warm
        transcriber.models.unload_all()
        llm = getattr(app.state, "llm", None)
        if llm is not None and hasattr(llm, "close"):
            llm.close()


def _warm(transcriber: object) -> None:
    """Load the default model in the background so the first request does not pay for it."""
    try:
        transcriber.warm()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - a missing model is reported per request, with its hint
        log.warning("default model not loaded at start: %s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    server = settings.server
    app = FastAPI(title="habla", version=__version__, lifespan=_lifespan,
                  description="Local-first speech AI with an OpenAI-compatible API.")
    state = app.state
    state.settings, state.metrics = settings, Metrics()
    # With batching, many transcriptions run at once: their chunks meet in the batching queue.
    concurrency = settings.batching.max_concurrency if settings.batching.enabled else server.max_concurrency
    state.limiter = ConcurrencyLimiter(concurrency, server.max_queue)
    state.rate_limiter = RateLimiter(server.rate_limit_per_minute)
    state.metrics.watch(lambda: state.limiter.waiting, lambda: state.limiter.in_flight)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, dependencies=[] if router in PUBLIC else [Depends(authenticate)])
    app.add_middleware(UploadLimit, max_bytes=server.max_upload_mb << 20, paths=audio.UPLOAD_PATHS)
    if server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=server.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["Retry-After", "Location"])
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn (``--workers`` > 1 imports the app in each worker process)."""
    return create_app(load_settings())

"""``create_app(settings)``: the FastAPI app behind ``habla serve``.

One container of engines per app (``dependencies.Engines``: Transcriber, JobService, LLM, Speaker, voice, tutor on
one ModelStore), built in the lifespan and handed to routes by FastAPI dependencies (``dependencies.*Dep``).
``app.state`` holds ``settings``, ``metrics``, ``slots`` (admission per kind of work), ``rate_limiter`` and
``engines``. Routers come from the one list ``ROUTERS``; all but ``PUBLIC`` ones require the API key when keys are
configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from habla import __version__
from habla.asr.transcriber import Transcriber
from habla.config import Settings, load_settings
from habla.llm import retrieval
from habla.server import errors
from habla.server.auth import AuthGate, KeyRing, authenticate
from habla.server.dependencies import Engines, build_engines
from habla.hardware import return_large_blocks_to_the_os
from habla.server.limits import RateLimiter, Slots
from habla.server.metrics import Metrics, MetricsMiddleware
from habla.server.request_id import RequestIdMiddleware
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


MULTIPART_SLACK = 64 << 10  # form fields around a job or tutor upload (their storage checks the file itself)


def body_limits(settings: Settings) -> Callable[[str], int]:
    """The largest body each /v1 path accepts: audio uploads their own limits, everything else (JSON) a small one."""
    server, exact = settings.server, {"/v1/jobs": (settings.jobs.max_upload_mb << 20) + MULTIPART_SLACK}
    exact.update(dict.fromkeys(audio.UPLOAD_PATHS, server.max_upload_mb << 20))  # the body is the limit
    turn = (settings.tutor.max_upload_mb << 20) + MULTIPART_SLACK

    def limit(path: str) -> int:
        path = path.rstrip("/")
        if path in exact:
            return exact[path]
        if path.startswith("/v1/tutor/sessions/") and path.endswith("/turns"):
            return turn
        return server.max_body_kb << 10

    return limit


class BodyLimit:
    """Bounds every /v1 request body. A declared Content-Length over the limit is refused before reading; a
    chunked body is cut by Starlette's limit, which FastAPI turns into a 413 HTTPException while parsing
    (shaped by errors.py). Runs after AuthGate, so an anonymous client is refused before either."""

    def __init__(self, app: ASGIApp, limit: Callable[[str], int]) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            size = f"{max_bytes >> 20} MB" if max_bytes >= 1 << 20 else f"{max_bytes >> 10} KB"
            response = errors.error_response(413, f"the request body is larger than this server's limit of {size}",
                                             "upload_too_large", "file")
            await response(scope, receive, send)
            return
        await RequestBodyLimitMiddleware(self.app, max_bytes)(scope, receive, send)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    engines: Engines = build_engines(app.state.settings, app.state.metrics, app.state.slots)
    engines.jobs.start()
    app.state.engines = engines
    warm = asyncio.get_running_loop().run_in_executor(None, _warm, engines.transcriber,
                                                      app.state.settings.assistant.warm_languages)
    try:
        yield
    finally:
        await warm
        engines.close()


def _warm(transcriber: Transcriber, languages: Sequence[str]) -> None:
    """Load the default model and the assistant's lemma dictionaries in the background, so the first request does
    not pay for them."""
    try:
        transcriber.warm()
    except Exception as exc:  # noqa: BLE001 — a missing model is reported per request, with its hint
        log.warning("default model not loaded at start: %s", exc)
    try:
        for language in languages:
            retrieval.warm(language)
    except Exception as exc:  # noqa: BLE001 — without the llm extra the assistant's routes say what to install
        log.warning("assistant dictionaries not loaded at start: %s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    return_large_blocks_to_the_os()  # upload parts are freed as soon as they are sent (habla/hardware.py)
    server = settings.server
    app = FastAPI(title="habla", version=__version__, lifespan=_lifespan,
                  description="Local-first speech AI with an OpenAI-compatible API.")
    state = app.state
    state.settings, state.metrics = settings, Metrics()
    # With batching, many transcriptions run at once: their chunks meet in the batching queue.
    transcriptions = settings.batching.max_concurrency if settings.batching.enabled else server.max_concurrency
    state.slots = slots = Slots.from_settings(server, transcriptions)
    state.rate_limiter = RateLimiter(server.rate_limit_per_minute)
    state.keyring = KeyRing(server.api_keys, server.admin_api_keys)
    state.metrics.watch(lambda: slots.transcription.waiting, lambda: slots.transcription.in_flight)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, dependencies=[] if router in PUBLIC else [Depends(authenticate)])
    app.add_middleware(BodyLimit, limit=body_limits(settings))
    app.add_middleware(AuthGate)  # outside BodyLimit: who is asking is checked first
    if server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=server.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["Retry-After", "Location", "X-Request-Id"])
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries it, early refusals too
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn (``--workers`` > 1 imports the app in each worker process)."""
    return create_app(load_settings())

"""GET /healthz: liveness plus what a probe or an operator wants at a glance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from habla import __version__
from habla.models.access import display_name
from habla.server.dependencies import EnginesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(engines: EnginesDep) -> dict[str, Any]:
    """Async and lock-free (bar the model manager's brief bookkeeping lock): it needs no worker thread, so it
    answers while every slot and the thread pool are busy; a stale storage check runs in asyncio's executor and is
    awaited at most STORAGE_CHECK_TIMEOUT_SECONDS. Public: names and counts, never a path.
    ``status`` is "degraded" while the job storage refuses or cannot be reached."""
    slots = engines.slots
    storage = await engines.storage_probe()
    loaded = [display_name(k) for k in engines.transcriber.models.loaded()]
    return {"status": "ok" if storage["ok"] else "degraded", "version": __version__, "models_loaded": loaded,
            "transcriptions_in_flight": slots.transcription.in_flight,
            "transcriptions_waiting": slots.transcription.waiting,
            "llm_in_flight": slots.llm.in_flight, "llm_waiting": slots.llm.waiting,
            "speech_in_flight": slots.speech.in_flight, "speech_waiting": slots.speech.waiting,
            "jobs_mode": engines.settings.jobs.mode, "storage": storage}

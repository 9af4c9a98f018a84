"""GET /healthz: liveness plus what a probe or an operator wants at a glance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from habla import __version__
from habla.models.access import display_name

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    """``status`` is "degraded" while the job storage refuses or cannot be reached (``storage.error`` says why)."""
    state = request.app.state
    storage = state.jobs.storage_health()
    return {"status": "ok" if storage["ok"] else "degraded", "version": __version__,
            "models_loaded": [str(k) for k in state.transcriber.models.loaded()],
            "transcriptions_in_flight": state.limiter.in_flight, "transcriptions_waiting": state.limiter.waiting,
            "jobs_mode": state.settings.jobs.mode, "storage": storage}

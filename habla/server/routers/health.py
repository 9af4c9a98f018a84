"""GET /healthz: liveness plus what a probe or an operator wants at a glance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from habla import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    state = request.app.state
    loaded = [str(k) for k in state.transcriber.models.loaded()]
    return {"status": "ok", "version": __version__, "models_loaded": loaded,
            "transcriptions_in_flight": state.limiter.in_flight, "transcriptions_waiting": state.limiter.waiting,
            "jobs_mode": state.settings.jobs.mode}

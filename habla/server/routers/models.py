"""GET /v1/models and /v1/models/{id}: the models installed here, in OpenAI's list shape, plus ``whisper-1``
(the default transcription model, under the name OpenAI clients send)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from habla.errors import ModelNotFound
from habla.models.store import ModelStatus
from habla.server.dependencies import engines
from habla.server.routers.jobs import OPENAI_MODEL_ALIASES

router = APIRouter(prefix="/v1/models", tags=["models"])


def _entry(model_id: str, status: ModelStatus, alias_of: str | None = None) -> dict[str, Any]:
    created = int(status.path.stat().st_mtime) if status.path and status.path.exists() else 0
    entry = {"id": model_id, "object": "model", "created": created, "owned_by": "habla", "family": status.family,
             "description": status.description}
    return {**entry, "alias_of": alias_of} if alias_of else entry


def _available(request: Request) -> list[dict[str, Any]]:
    """Checks the store each time (cheap: verifications are remembered), so a model installed later appears."""
    found = engines(request)
    available = [s for s in found.store.list() if s.available]
    entries = [_entry(s.name, s) for s in available]
    default = found.settings.asr.model
    for status in available:
        if status.name == default:
            entries += [_entry(alias, status, default) for alias in sorted(OPENAI_MODEL_ALIASES)]
    return entries


@router.get("")
def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": _available(request)}


@router.get("/{model_id:path}")
def get_model(request: Request, model_id: str) -> dict[str, Any]:
    for entry in _available(request):
        if entry["id"] == model_id:
            return entry
    raise ModelNotFound(f"model {model_id!r} is not available here", hint="GET /v1/models lists the models served here")

"""GET /v1/models and /v1/models/{id}: the models this server can use, in OpenAI's list shape.

Every listed id works where its kind is used: Whisper models at /v1/audio/transcriptions, Piper voices at
/v1/audio/speech, the configured LLM at /v1/chat/completions. OpenAI's names (whisper-1, tts-1, gpt-4o-mini, ...)
are listed too, each with ``alias_of`` naming the model it stands for (habla.models.openai_names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from habla.errors import HablaError, ModelNotFound
from habla.models.store import ModelStatus
from habla.models.openai_names import ALIASES, Kind
from habla.server.dependencies import engines

router = APIRouter(prefix="/v1/models", tags=["models"])


def _entry(model_id: str, family: str, description: str, path: Path | None,
           alias_of: str | None = None) -> dict[str, Any]:
    created = int(path.stat().st_mtime) if path and path.exists() else 0
    entry = {"id": model_id, "object": "model", "created": created, "owned_by": "habla", "family": family,
             "description": description}
    return {**entry, "alias_of": alias_of} if alias_of else entry


def _of(status: ModelStatus, alias_of: str | None = None, model_id: str | None = None) -> dict[str, Any]:
    return _entry(model_id or status.name, status.family, status.description, status.path, alias_of)


def _aliases(kind: Kind, target: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**target, "id": alias, "alias_of": target["id"]} for alias in sorted(ALIASES[kind])]


def _default_voice(request: Request) -> dict[str, Any] | None:
    try:
        voice = engines(request).speaker.registry.resolve(None)
    except HablaError:  # no voice at all: speech cannot work, so no speech name is listed
        return None
    return _entry(voice.name, "tts", voice.description, None)


def _chat_model(request: Request, available: list[ModelStatus]) -> dict[str, Any] | None:
    """The configured LLM: a remote model id, an installed catalog model or a .gguf path."""
    llm = request.app.state.settings.llm
    if llm.backend == "remote":
        return _entry(llm.model, "llm", "remote OpenAI-compatible model", None)
    for status in available:
        if status.name == llm.model:
            return _of(status)
    path = Path(llm.model)
    return _entry(llm.model, "llm", "GGUF file", path) if path.suffix == ".gguf" and path.is_file() else None


def _available(request: Request) -> list[dict[str, Any]]:
    """Checks the store each time (cheap: verifications are remembered), so a model installed later appears."""
    found = engines(request)
    available = [s for s in found.store.list() if s.available]
    entries = [_of(s) for s in available if s.family in ("whisper", "tts")]  # any of them can be asked for
    default_asr = next((s for s in available if s.name == found.settings.asr.model), None)
    if default_asr is not None:
        entries += _aliases("transcription", _of(default_asr))
    if (voice := _default_voice(request)) is not None:
        entries += _aliases("speech", voice)
    if (chat := _chat_model(request, available)) is not None:
        entries += [chat, *_aliases("chat", chat)]
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

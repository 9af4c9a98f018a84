"""Which models a client may ask for: catalog and registered names, never a server path, unless an operator lists
the folder in ``HABLA_MODELS__CLIENT_DIRS``. Every route that takes a model from a request (sync transcriptions,
jobs) goes through ``client_model``, so a request cannot make the server load, or tell it about, an arbitrary folder.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from habla.config import Settings
from habla.errors import ModelNotFound
from habla.models.openai_names import is_alias
_HINT = "GET /v1/models lists the models served here"


def client_model(settings: Settings, requested: str | None) -> str | None:
    """The model to use for a client's ``model`` value: None for the default, a catalog or registered name, or
    the resolved path of a folder inside one of the operator's allowed folders. Anything else is ModelNotFound
    (the same answer whether or not such a path exists)."""
    from habla.models.store import (
        ModelStore,  # store loads the catalog: only when a model is named
    )

    name = (requested or "").strip()
    if not name or is_alias(name, "transcription") or name == settings.asr.model:
        return None
    if "/" not in name and "\\" not in name and name not in (".", "..") and "\0" not in name:
        if ModelStore(settings.models).is_whisper(name):
            return name
    elif (folder := _allowed_folder(settings, name)) is not None:
        return str(folder)
    raise ModelNotFound(f"model {name[:200]!r} does not exist", hint=_HINT)


def _allowed_folder(settings: Settings, name: str) -> Path | None:
    if not settings.models.client_dirs or "\0" in name:
        return None
    try:
        folder = Path(name).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for root in settings.models.client_dirs:
        base = root.expanduser().resolve()
        if folder != base and folder.is_relative_to(base) and folder.is_dir():
            return folder
    return None


def display_name(model: object) -> str:
    """A loaded model as shown to clients (/healthz): its name, or a folder's last part, never a path."""
    return PurePath(str(model)).name or str(model)

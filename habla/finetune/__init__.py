"""Import official Whisper checkpoints, fine-tune Whisper on your own clips, export to CTranslate2 and register.

Needs the training extra: ``pip install habla[finetune]`` (PyTorch, transformers, peft, datasets, matplotlib).
Everything here runs offline: tokenizers and feature extractors are built from local files, never the hub.
"""

from __future__ import annotations

import os

from habla.errors import HablaError


class FinetuneUnavailable(HablaError):
    exit_code = 2
    code = "finetune_unavailable"


def require_extra() -> None:
    """Fail with an install hint when the training libraries are missing; force the hub off for this process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        import torch  # noqa: F401 — imported only to check that it is installed
        import transformers  # noqa: F401 — checks that the training libraries are installed
    except ImportError as exc:
        raise FinetuneUnavailable(f"fine-tuning needs the training libraries ({exc.name} is missing)",
                                  hint="pip install 'habla[finetune]'") from None

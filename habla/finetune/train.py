"""``habla finetune``: split the data, score the base model, train with Seq2SeqTrainer (optionally LoRA), resume
from the last checkpoint after an interruption, export to CTranslate2, register, score again, report."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habla.config import Settings
from habla.errors import InvalidOption
from habla.finetune import data, report
from habla.finetune.evaluate import score

if TYPE_CHECKING:
    from transformers import TrainerCallback, WhisperForConditionalGeneration, WhisperProcessor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneOptions:
    output: str
    base: str = "base"
    language: str | None = None  # only this language's clips
    validation: float = 0.2
    seed: int = 0
    max_steps: int = 100
    batch_size: int = 8
    learning_rate: float = 1e-5
    warmup_steps: int = 10
    save_steps: int = 25
    lora: bool = False  # low-rank adapters (peft), merged before export: for medium and large models
    lora_rank: int = 32
    quantizations: tuple[str, ...] = ("float16",)
    eval_beam_size: int = 1
    evaluate: bool = True
    tokenizer: Path | None = None
    work_dir: Path | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.validation < 1:
            raise InvalidOption("--validation must be between 0 and 1")
        for name in ("max_steps", "batch_size", "save_steps", "lora_rank"):
            if getattr(self, name) < 1:
                raise InvalidOption(f"{name} must be at least 1")
        if not 0 < self.learning_rate < 1:
            raise InvalidOption("--learning-rate must be between 0 and 1")


@dataclass
class Base:
    model: WhisperForConditionalGeneration
    tokenizer_file: Path
    ct2_dir: Path | None  # the CTranslate2 model to score before training, when the base is one
    ct2_config: dict[str, Any] | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def load_base(name_or_path: str, settings: Settings, tokenizer: Path | None) -> Base:
    """A Hugging Face Whisper folder, or any CTranslate2 model the store finds (read back into PyTorch)."""
    from transformers import WhisperForConditionalGeneration

    from habla.finetune.checkpoint import ct2_to_hf
    from habla.models.store import ModelStore

    path = Path(name_or_path).expanduser()
    if path.is_dir() and any((path / f).is_file() for f in ("model.safetensors", "pytorch_model.bin")):
        model = WhisperForConditionalGeneration.from_pretrained(path, local_files_only=True)
        tok = tokenizer or path / "tokenizer.json"
        return Base(model, tok, None, label=str(path))
    location = ModelStore(settings.models).locate(name_or_path)
    model = ct2_to_hf(location.path / "model.bin")
    config = json.loads((location.path / "config.json").read_text())
    return Base(model, tokenizer or location.path / "tokenizer.json", location.path, config, name_or_path)


def work_dir(opts: FinetuneOptions, settings: Settings) -> Path:
    return (opts.work_dir or settings.home / "finetune" / opts.output).expanduser()


def _last_checkpoint(folder: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    return Path(found) if folder.is_dir() and (found := get_last_checkpoint(str(folder))) else None


def _with_lora(model: WhisperForConditionalGeneration, rank: int) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, bias="none",
                        target_modules=["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"])
    return get_peft_model(model, config)


def _trainer(model: Any, processor: WhisperProcessor, train: data.WhisperDataset, opts: FinetuneOptions,
             checkpoints: Path, callbacks: list[TrainerCallback]) -> Any:
    import torch
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    cuda = torch.cuda.is_available()
    args = Seq2SeqTrainingArguments(
        output_dir=str(checkpoints), max_steps=opts.max_steps, per_device_train_batch_size=opts.batch_size,
        learning_rate=opts.learning_rate, warmup_steps=min(opts.warmup_steps, opts.max_steps // 2),
        logging_steps=1, save_strategy="steps", save_steps=opts.save_steps, save_total_limit=2,
        eval_strategy="no", report_to="none", seed=opts.seed, fp16=cuda and not opts.lora, use_cpu=not cuda,
        remove_unused_columns=False, label_names=["labels"], dataloader_num_workers=0, dataloader_pin_memory=cuda,
        disable_tqdm=False)
    return Seq2SeqTrainer(model=model, args=args, train_dataset=train, data_collator=data.Collator(),
                          processing_class=processor.feature_extractor, callbacks=callbacks)


def _scratch_ct2(hf_model: WhisperForConditionalGeneration, processor: WhisperProcessor, folder: Path) -> Path:
    """A throw-away CTranslate2 copy of a PyTorch base model, to score it the same way as the result."""
    from habla.finetune.export import to_ct2
    from habla.finetune.processor import save_processor

    hf_model.save_pretrained(folder / "hf")
    save_processor(processor, folder / "hf")
    return to_ct2(folder / "hf", folder / "ct2", "float32")


def _scores(model_dir: Path, clips: list[data.Clip], settings: Settings, beam: int) -> dict[str, dict[str, Any]]:
    return {lang: s.as_dict() for lang, s in score(model_dir, clips, settings, beam).items()}


def finetune(data_dir: Path, opts: FinetuneOptions, settings: Settings,
             callbacks: list[TrainerCallback] | None = None) -> report.Report:
    """Run the whole loop. Interrupted runs resume from ``<work dir>/checkpoints`` when started again."""
    from habla.finetune import require_extra
    from habla.finetune.export import export_and_register
    from habla.finetune.processor import load_processor, save_processor
    from habla.models.registry import check_name

    require_extra()
    check_name(opts.output)
    started = time.monotonic()
    parts = data.load(data_dir, opts.validation, opts.seed, opts.language)
    base = load_base(opts.base, settings, opts.tokenizer)
    processor = load_processor(base.tokenizer_file, base.model.config.num_mel_bins)
    train_set = data.WhisperDataset(parts.train, processor)
    work = work_dir(opts, settings)
    work.mkdir(parents=True, exist_ok=True)

    before_file = work / "wer_before.json"  # scored once: a resumed run does not score the base again
    before: dict[str, dict[str, Any]] = {}
    if opts.evaluate and parts.validation:
        if before_file.is_file():
            before = json.loads(before_file.read_text())
        else:
            with tempfile.TemporaryDirectory(prefix="habla-base-") as tmp:
                ct2 = base.ct2_dir or _scratch_ct2(base.model, processor, Path(tmp))
                before = _scores(ct2, parts.validation, settings, opts.eval_beam_size)
            before_file.write_text(json.dumps(before))

    model = _with_lora(base.model, opts.lora_rank) if opts.lora else base.model
    checkpoints = work / "checkpoints"
    resume = _last_checkpoint(checkpoints)
    if resume:
        log.warning("resuming from %s", resume)
    trainer = _trainer(model, processor, train_set, opts, checkpoints, callbacks or [])
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trained = trainer.model.merge_and_unload() if opts.lora else trainer.model

    final = work / "hf"
    trained.save_pretrained(final)
    save_processor(processor, final)
    origin = {"base": opts.base, "data": str(data_dir), "steps": trainer.state.global_step, "lora": opts.lora}
    registered = export_and_register(settings.models, final, opts.output, list(opts.quantizations),
                                     f"Whisper fine-tuned from {opts.base}", origin, base.ct2_config, opts.overwrite)
    after = (_scores(next(iter(registered.values())), parts.validation, settings, opts.eval_beam_size)
             if opts.evaluate and parts.validation else {})
    seconds = parts.seconds()
    result = report.Report(
        model=opts.output, base=opts.base, data_dir=str(data_dir), train_clips=len(parts.train),
        validation_clips=len(parts.validation), train_seconds=seconds["train"],
        validation_seconds=seconds["validation"],
        steps=trainer.state.global_step, seconds=round(time.monotonic() - started, 1),
        options={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        loss=[(int(e["step"]), float(e["loss"])) for e in trainer.state.log_history if "loss" in e],
        wer_before=before, wer_after=after, resumed_from=resume.name if resume else None,
        registered={name: str(path) for name, path in registered.items()})
    report.write(result, work / "report")
    return result

"""``habla finetune DATA_DIR --base MODEL --output NAME``: train, export, register, report (habla[finetune])."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from habla.errors import InvalidOption

console = Console(stderr=True)


def parse_quantizations(value: str) -> tuple[str, ...]:
    from habla.finetune.export import QUANTIZATIONS

    quants = tuple(q.strip() for q in value.split(",") if q.strip())
    bad = [q for q in quants if q not in QUANTIZATIONS]
    if not quants or bad:
        raise InvalidOption(f"unknown quantization {', '.join(bad) or value!r}", hint=f"one or more of {QUANTIZATIONS}")
    return quants


def finetune(
    data_dir: Path = typer.Argument(..., help="Audio + manifest.tsv (id, lang, seconds, text), or a datasets folder."),
    output: str = typer.Option(..., "--output", "-o", help="Name the fine-tuned model is registered under."),
    base: str = typer.Option("base", "--base", "-b", help="Model to start from: a habla model name, a CTranslate2 "
                             "folder, or a Hugging Face Whisper folder."),
    language: str | None = typer.Option(None, "--language", "-l", help="Use only this language's clips."),
    max_steps: int = typer.Option(100, "--max-steps", help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", help="Clips per step."),
    learning_rate: float = typer.Option(1e-5, "--learning-rate", help="Peak learning rate (linear decay)."),
    warmup_steps: int = typer.Option(10, "--warmup-steps", help="Steps of linear warm-up."),
    save_steps: int = typer.Option(25, "--save-steps", help="Checkpoint every N steps (a rerun resumes there)."),
    validation: float = typer.Option(0.2, "--validation", help="Share of each language's clips held out for WER."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and of training."),
    lora: bool = typer.Option(False, "--lora", help="Train low-rank adapters (merged at export): for large models."),
    lora_rank: int = typer.Option(32, "--lora-rank", help="Rank of the LoRA adapters."),
    quantization: str = typer.Option("float16", "--quantization", "-q",
                                     help="CTranslate2 weights: float16, int8, ... or a list (float16,int8)."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the WER before and after."),
    tokenizer: Path | None = typer.Option(None, "--tokenizer", help="tokenizer.json (default: the base model's)."),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="Checkpoints and report (default: "
                                            "<home>/finetune/NAME)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a registered model of the same name."),
) -> None:
    """Fine-tune Whisper on your clips; the result is usable at once as `habla transcribe --model NAME`."""
    from habla.config import load_settings

    from habla.finetune.train import FinetuneOptions, work_dir as folder_of
    from habla.finetune.train import finetune as run

    opts = FinetuneOptions(output=output, base=base, language=language, validation=validation, seed=seed,
                           max_steps=max_steps, batch_size=batch_size, learning_rate=learning_rate,
                           warmup_steps=warmup_steps, save_steps=save_steps, lora=lora, lora_rank=lora_rank,
                           quantizations=parse_quantizations(quantization), evaluate=not no_eval,
                           tokenizer=tokenizer, work_dir=work_dir, overwrite=overwrite)
    result = run(data_dir, opts, load_settings())
    for lang in sorted(set(result.wer_before) | set(result.wer_after)):
        before, after = result.wer_before.get(lang, {}).get("wer"), result.wer_after.get(lang, {}).get("wer")
        console.print(f"WER {lang}: {before if before is None else f'{before:.1%}'} → "
                      f"{after if after is None else f'{after:.1%}'}")
    for name, path in result.registered.items():
        console.print(f"[green]registered[/] {name} at {path}")
    console.print(f"report: {folder_of(opts, load_settings()) / 'report' / 'report.md'}")


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)

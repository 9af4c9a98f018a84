"""``habla models list | verify | path | download | prepare``: what the offline model store holds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from habla.config import load_settings
from habla.errors import HablaError
from habla.models.catalog import ALL_MODELS
from habla.models.store import ModelStore

models_app = typer.Typer(help="List, verify and locate models (offline; downloads only on request).",
                         no_args_is_help=True, rich_markup_mode=None)
console = Console()


def _store() -> ModelStore:
    return ModelStore(load_settings().models)


@models_app.command("list")
def list_models() -> None:
    """Every catalog model and whether it is available on this machine."""
    table = Table("name", "family", "status", "path")
    table.columns[-1].overflow = "fold"  # a path is only useful whole
    missing = []
    for st in _store().list():
        if st.available:
            table.add_row(st.name, st.family, f"[green]ok[/] ({st.source})", str(st.path))
        elif st.corrupt:
            table.add_row(st.name, st.family, "[red]corrupt[/]", st.problem or "")
        else:
            table.add_row(st.name, st.family, "[dim]not installed[/]", "")
            missing.append(st.name)
    console.print(table)
    if missing:
        console.print("To add a model that is not installed: `habla transcribe --model /path/to/ct2-folder`, "
                      "`habla models import FILE.pt`, or `habla models download NAME` (the one command that goes "
                      "online).", soft_wrap=False, highlight=False)


@models_app.command("verify")
def verify(name: str = typer.Argument(..., help="Model name or folder.")) -> None:
    """Hash every file of a model against the catalog's sha256 (assembling pip parts if needed)."""
    loc = _store().verify(name)
    console.print(f"[green]ok[/] {name}: {loc.path} ({loc.source})")


@models_app.command("path")
def path(name: str = typer.Argument(..., help="Model name.")) -> None:
    """Print the folder a model loads from."""
    typer.echo(str(_store().locate(name).path))


@models_app.command("download")
def download(name: str = typer.Argument(..., help="Catalog model name.")) -> None:
    """Download a model from its hub repository (the only command that goes online)."""
    from habla.cli.main import fail

    try:
        target = _store().download(name)
    except HablaError as exc:
        raise fail(exc) from None
    except Exception as exc:  # noqa: BLE001 — network errors of any kind
        raise fail(HablaError(f"download of {name!r} failed: {exc}")) from None
    console.print(f"[green]downloaded[/] {name} to {target}")


@models_app.command("prepare")
def prepare() -> None:
    """Build once what habla derives from verified models, so no request waits for it.

    The LLMs' faster forms (SmolLM2 in 8-bit blocks: about 1 s), the word vectors answers use (read out of Gemma's
    GGUF: about a minute, 2 GB peak), the sentence-embedding model's verified copy and the speaker model's ONNX graph
    (about 5 s). Each is skipped, with a note, when its extra is not installed.
    """
    settings = load_settings()
    store = ModelStore(settings.models)
    try:
        from habla.llm.service import gguf_path, open_paraphrases, open_similarity
    except ImportError as exc:
        console.print(f"[yellow]skipped[/] word vectors: habla[llm] is not installed ({exc.name})")
    else:
        for name, spec in ALL_MODELS.items():
            if spec.derived and store.status(name).available:
                done = gguf_path(store, name).name == spec.derived[0].name
                console.print(f"[green]ready[/] {name} {spec.derived[0].recipe}" if done else
                              f"[yellow]skipped[/] {name} {spec.derived[0].recipe} (see the log)")
        done = open_paraphrases(settings.assistant, store, extract=True) is not None
        console.print("[green]ready[/] word vectors" if done else "[yellow]skipped[/] word vectors (see the log)")
        done = open_similarity(settings.assistant, store) is not None
        console.print("[green]ready[/] sentence embeddings" if done else
                      "[yellow]skipped[/] sentence embeddings (see the log)")
    try:
        from habla.diarize.service import Diarizer
    except ImportError as exc:
        console.print(f"[yellow]skipped[/] speaker model: habla[diarize] is not installed ({exc.name})")
    else:
        Diarizer(settings.diarize, store).warm()
        console.print(f"[green]ready[/] speaker model ({settings.diarize.runtime})")


@models_app.command("import")
def import_checkpoint(
    file: Path = typer.Argument(..., help="An official OpenAI Whisper checkpoint (.pt)."),
    name: str | None = typer.Option(None, "--name", help="Register under this name (default: from the hash)."),
    trust: bool = typer.Option(False, "--trust", help="Import a file whose sha256 is not in the catalog."),
    quantization: str = typer.Option("float16,int8", "--quantization", "-q",
                                     help="CTranslate2 weights to make: NAME gets the first, NAME-<q> the others."),
    tokenizer: Path | None = typer.Option(None, "--tokenizer", help="tokenizer.json for English-only or "
                                             "large-v3 checkpoints (default: the multilingual one of base)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a registered model of the same name."),
) -> None:
    """Verify an official checkpoint by its sha256, convert it to CTranslate2 and register it (habla[finetune])."""
    from habla.cli.finetune import parse_quantizations

    from habla.finetune.importer import import_checkpoint as run

    result = run(file, load_settings().models, name=name, trust=trust,
                 quantizations=parse_quantizations(quantization), tokenizer=tokenizer, overwrite=overwrite)
    what = f"official {result.checkpoint.name}" if result.checkpoint else "[yellow]unverified[/] checkpoint"
    console.print(f"{file.name}: {what} (sha256 {result.sha256[:12]}…)")
    for model, folder in result.models.items():
        console.print(f"[green]registered[/] {model} at {folder}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")

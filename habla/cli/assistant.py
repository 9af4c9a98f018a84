"""``habla summarize FILE`` and ``habla ask FILE "question"``: the transcript assistant on audio or a JSON
transcript."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from habla.errors import InvalidOption

if TYPE_CHECKING:
    from habla.asr.types import Transcript
    from habla.config import Settings
    from habla.llm.assistant import Answer

console = Console(stderr=True)

FILE_HELP = "Audio/video file, or a habla / openai-whisper JSON transcript."
LLM_URL = typer.Option(None, "--llm-url", help="Use an OpenAI-compatible server at this base URL instead of the "
                                                "embedded model (e.g. http://127.0.0.1:11434/v1).")
LLM_MODEL = typer.Option(None, "--llm", help="LLM: catalog name or .gguf path (embedded), model id (remote).")
ASR_MODEL = typer.Option(None, "--model", "-m", help="Whisper model, when FILE is audio.")
AS_JSON = typer.Option(False, "--json", help="Print the answer and its citations as JSON.")


def load_transcript(path: str, model: str | None) -> Transcript:
    """A JSON transcript as written by `habla transcribe -f json` (or openai-whisper), else transcribe the audio."""
    from habla.asr.types import Transcript

    file = Path(path)
    if not file.is_file():
        raise InvalidOption(f"{path}: no such file")
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            return Transcript.from_dict(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidOption(f"{path} is not a transcript JSON: {exc}") from exc
    from habla import default_transcriber

    with console.status("transcribing…"):
        return default_transcriber().transcribe(str(file), model)


def _settings(llm_url: str | None, llm_model: str | None) -> Settings:
    from habla.config import load_settings

    settings = load_settings()
    llm = settings.llm
    if llm_url:
        llm = llm.model_copy(update={"backend": "remote", "base_url": llm_url})
    if llm_model:
        llm = llm.model_copy(update={"model": llm_model})
    return settings.model_copy(update={"llm": llm})


def _print(answer: Answer, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    typer.echo(answer.text)
    if answer.citations:
        typer.echo("\nSources:")
        for c in answer.citations:
            typer.echo(f"  {c.timestamp} {c.text}")


def summarize(file: str = typer.Argument(..., help=FILE_HELP), model: str | None = ASR_MODEL,
              llm_url: str | None = LLM_URL, llm_model: str | None = LLM_MODEL,
              style: str | None = typer.Option(None, "--style", "-s", help="bullets (default), paragraph, "
                                               "actions (who/what/when) or chapters ([mm:ss] titles)."),
              as_json: bool = AS_JSON) -> None:
    """Summarise every topic of a recording or transcript, each point citing its [mm:ss]."""
    from habla.llm.service import LLMService

    service = LLMService.from_settings(_settings(llm_url, llm_model))
    transcript = load_transcript(file, model)
    with service.assistant() as assistant, console.status("summarising…"):
        answer = assistant.summarize(transcript, style=style)
    _print(answer, as_json)


def ask(file: str = typer.Argument(..., help=FILE_HELP), question: str = typer.Argument(..., help="The question."),
        model: str | None = ASR_MODEL, llm_url: str | None = LLM_URL, llm_model: str | None = LLM_MODEL,
        as_json: bool = AS_JSON) -> None:
    """Answer a question about a recording or transcript, citing the [mm:ss] where it is said."""
    from habla.llm.service import LLMService

    service = LLMService.from_settings(_settings(llm_url, llm_model))
    transcript = load_transcript(file, model)
    with service.assistant() as assistant, console.status("thinking…"):
        answer = assistant.ask(transcript, question)
    _print(answer, as_json)


def register(app: typer.Typer) -> None:
    app.command("summarize")(summarize)
    app.command("ask")(ask)

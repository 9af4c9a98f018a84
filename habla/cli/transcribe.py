"""``habla transcribe FILES...``: transcripts in every format, a progress bar, live segments, one error line per
bad file."""

from __future__ import annotations

import glob
import sys
from typing import TYPE_CHECKING, Any
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from habla.errors import HablaError, InvalidOption

if TYPE_CHECKING:
    from habla.asr.options import TranscribeOptions
    from habla.asr.transcriber import Transcriber
    from habla.asr.types import Transcript, TranscriptInfo

console = Console(stderr=True)
STDIN = "-"


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files as given, with shell-style patterns expanded here too (for shells and callers that do not)."""
    files: list[str] = []
    for pattern in patterns:
        if pattern == STDIN or Path(pattern).exists() or not glob.has_magic(pattern):
            files.append(pattern)
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            files.extend(matches or [pattern])  # an unmatched pattern reports as a missing file
    return files


def transcribe(
    files: list[str] = typer.Argument(..., help="Audio or video files, glob patterns, or - for stdin."),
    model: str | None = typer.Option(None, "--model", "-m", help="Catalog name or CTranslate2 folder [default: base]."),
    language: str | None = typer.Option(None, "--language", "-l", help="Language code, or auto-detect."),
    task: str = typer.Option("transcribe", "--task", help="transcribe, or translate (into English)."),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o", help="Where the transcript files go."),
    output_format: str = typer.Option("all", "--output-format", "-f",
                                      help="txt, vtt, srt, tsv, json, rttm, all, or a comma-separated list."),
    word_timestamps: bool = typer.Option(False, "--word-timestamps",
                                         help="Write word timings: json words, word-highlighted srt/vtt, a tsv row "
                                              "per word."),
    beam_size: int | None = typer.Option(None, "--beam-size", help="0 = per language (1 for English, 5 otherwise)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Speech chunks decoded together."),
    vad: bool = typer.Option(True, "--vad/--no-vad", help="Skip non-speech (no words are made up on silence)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print segments as they are decoded."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    diarize: bool = typer.Option(False, "--diarize", help="Label who spoke when (needs habla[diarize])."),
    speakers: int | None = typer.Option(None, "--speakers", help="Exact number of speakers (implies --diarize)."),
    min_speakers: int | None = typer.Option(None, "--min-speakers", help="At least this many (implies --diarize)."),
    max_speakers: int | None = typer.Option(None, "--max-speakers", help="At most this many (implies --diarize)."),
    known_speaker: list[str] | None = typer.Option(
        None, "--known-speaker", help="NAME=CLIP: name the speaker whose voice matches the clip (repeatable)."),
) -> None:
    """Transcribe (or translate) audio and video files, fully offline."""
    from habla import default_transcriber
    from habla.formats import resolve_formats

    formats = output_format.split(",")
    resolve_formats(formats)  # every name checked before any file is transcribed; "all" is kept for write_files
    transcriber = default_transcriber()
    options = transcriber.default_options(language=language, task=task, word_timestamps=word_timestamps,
                                          beam_size=beam_size, batch_size=batch_size, vad=vad)
    speaker_setup = None
    counts = (speakers, min_speakers, max_speakers)
    if diarize or known_speaker or any(c is not None for c in counts):
        speaker_setup = _speaker_setup(speakers, min_speakers, max_speakers, known_speaker or [])

    failures = 0
    exit_code = 0
    for name in expand_inputs(files):
        try:
            _transcribe_one(transcriber, name, model, options, output_dir, formats, verbose, quiet, speaker_setup)
        except HablaError as exc:
            failures += 1
            exit_code = exit_code or exc.exit_code
            console.print(f"[bold red]error:[/] {name}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""),
                          highlight=False)
            if isinstance(exc, InvalidOption) or exc.code in ("model_not_found", "model_corrupt"):
                break  # the same failure would repeat for every file
    if failures:
        raise typer.Exit(exit_code)


def _speaker_setup(speakers: int | None, min_speakers: int | None, max_speakers: int | None,
                   known: list[str]) -> tuple[Any, Any, list[Any]]:  # (Diarizer, SpeakerOptions, [KnownSpeaker])
    from habla import default_diarizer
    from habla.audio.decode import decode
    from habla.diarize.service import KnownSpeaker

    diarizer = default_diarizer()
    options = diarizer.speaker_options(speakers, min_speakers, max_speakers)
    people = []
    for item in known:
        name, sep, clip = item.partition("=")
        if not sep or not name.strip() or not clip:
            raise InvalidOption(f"--known-speaker expects NAME=CLIP, got {item!r}")
        people.append(KnownSpeaker(name.strip(), decode(clip)))
    diarizer.warm()  # a missing model or extra fails here, once, before any file is transcribed
    return diarizer, options, people


def _transcribe_one(transcriber: Transcriber, name: str, model: str | None, options: TranscribeOptions,
                    output_dir: Path, formats: list[str], verbose: bool, quiet: bool,
                    speaker_setup: tuple[Any, Any, list[Any]] | None = None) -> None:
    from habla.formats import verbose_line

    source = sys.stdin.buffer if name == STDIN else name
    basename = "stdin" if name == STDIN else Path(name).stem
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[pos]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                  disable=quiet) as progress:
        bar = progress.add_task(basename, total=None, pos="")

        def on_progress(position: float, total: float | None) -> None:
            progress.update(bar, completed=position, total=total, pos=f"{position:.0f}/{total or 0:.0f}s")

        if speaker_setup is not None:
            from habla.diarize.transcribe import transcribe_with_speakers

            diarizer, speaker_options, known = speaker_setup
            transcript = transcribe_with_speakers(transcriber, diarizer, source, model, options, speaker_options,
                                                  known, on_progress=on_progress)
            _write(transcript, name, output_dir, basename, formats, options.word_timestamps)
            return
        run = transcriber.stream(source, model, options, on_progress=on_progress)
        info = run.info
        if verbose:
            progress.console.print(f"[dim]{name}: {_language_note(info, options.language)}[/]", highlight=False)
        for segment in run:
            if verbose:
                progress.console.print(verbose_line(segment), highlight=False, markup=False, soft_wrap=True)
    _write(run.result(), name, output_dir, basename, formats, options.word_timestamps)


def _write(transcript: Transcript, name: str, output_dir: Path, basename: str, formats: list[str],
           word_timestamps: bool) -> None:
    from habla.formats import WriterOptions, write_files

    paths = write_files(transcript, output_dir, basename, formats,
                        WriterOptions(word_timestamps=word_timestamps, file_id=basename))
    exts = ",".join(p.suffix.lstrip(".") for p in paths)
    console.print(f"[green]✓[/] {name} → {output_dir / basename}.{{{exts}}}", highlight=False, soft_wrap=True)


def _language_note(info: TranscriptInfo, forced: str | None) -> str:
    if forced:
        return f"language {info.language}"
    if info.language_probability == 0.0:
        return "no speech found"
    return f"language {info.language} (detected, {info.language_probability:.0%})"


def register(app: typer.Typer) -> None:
    app.command("transcribe")(transcribe)

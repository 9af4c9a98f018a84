"""``habla speak "text" -o out.wav``: text (argument, file or stdin) to an audio file in any supported format."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from habla.errors import InvalidOption

if TYPE_CHECKING:
    from habla.tts.speaker import Speaker

console = Console(stderr=True)
STDIO = "-"


def _read_text(text: str | None, file: Path | None) -> str:
    if text is not None and file is not None:
        raise InvalidOption("give the text either as an argument or with --file, not both")
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidOption(f"cannot read {file}: {exc}") from exc
    if text is None or text == STDIO:
        if sys.stdin.isatty():
            raise InvalidOption("no text given", hint='habla speak "Hello." -o hello.wav, or pipe text into it')
        return sys.stdin.read()
    return text


def _list_voices(speaker: Speaker) -> None:
    table = Table("voice", "engine", "language", "rate", "description")
    for voice in speaker.voices():
        name = voice.name + (f" ({', '.join(voice.aliases)})" if voice.aliases else "")
        table.add_row(name, voice.engine, voice.language, str(voice.sample_rate), voice.description)
    Console().print(table)


def speak(
    text: str | None = typer.Argument(None, help="Text to speak; - or nothing to read stdin."),
    output: str = typer.Option("speech.wav", "--output", "-o",
                               help="Audio file (format from its extension: wav, mp3, opus, ogg, flac, aac, pcm), "
                                    "or - for stdout."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Read the text from this file."),
    voice: str | None = typer.Option(None, "--voice", "-v", help="Voice name (see --list-voices)."),
    language: str | None = typer.Option(None, "--language", "-l", help="Pick the best voice for this language."),
    speed: float | None = typer.Option(None, "--speed", "-s", help="Speaking rate, 0.25 to 4 [default: 1]."),
    audio_format: str | None = typer.Option(None, "--format", help="Output format when the extension "
                                                                       "does not say (stdout: wav)."),
    sample_rate: int | None = typer.Option(None, "--sample-rate", help="Output rate; 0 = the voice's own "
                                                                           "[default: 24000]."),
    list_voices: bool = typer.Option(False, "--list-voices", help="List the voices and exit."),
) -> None:
    """Speak text into an audio file, fully offline (Piper, or espeak-ng for other languages)."""
    from habla.tts import Speaker

    speaker = Speaker.from_settings()
    if list_voices:
        _list_voices(speaker)
        return
    _speak(speaker, _read_text(text, file), output, voice, language, speed, audio_format, sample_rate)


def _speak(speaker: Speaker, text: str, output: str, voice: str | None, language: str | None,
           speed: float | None, audio_format: str | None, sample_rate: int | None) -> None:
    from habla.tts.encode import audio_format as check_format
    from habla.tts.encode import encode_stream, format_for_path, write_file

    fmt = check_format(audio_format).name if audio_format else ("wav" if output == STDIO else format_for_path(output))
    rate = speaker.tts.sample_rate if sample_rate is None else sample_rate
    started = time.perf_counter()
    run = speaker.speak(text, speaker.options(voice=voice, language=language, speed=speed))
    if output == STDIO:
        for data in encode_stream(run, fmt, rate):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        return
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    seconds = write_file(run, output, fmt, rate)
    elapsed = time.perf_counter() - started
    console.print(f"[green]✓[/] {output}: {seconds:.1f} s of audio, voice {run.voice.name} ({run.voice.engine}), "
                  f"made in {elapsed:.1f} s", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("speak")(speak)

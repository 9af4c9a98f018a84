"""``habla chat``: talk with the assistant from the terminal, with the microphone (sounddevice) or a recording."""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer
from rich.console import Console

from habla.errors import InvalidOption
from habla.voice.frames import (Event, ReplyAudio, ReplyDone, SpeechStarted, Timings, TranscriptFinal,
                                TranscriptPartial, TurnDiscarded)

if TYPE_CHECKING:
    from habla.voice.engines import Held
    from habla.voice.options import VoiceOptions
    from habla.voice.session import VoiceSession

console = Console()
FRAME = 320  # 20 ms at 16 kHz


def chat(
    input_file: Path | None = typer.Option(None, "--input", "-i", help="Drive the conversation from a recording "
                                           "instead of the microphone."),
    output: Path | None = typer.Option(None, "--output", "-o", help="With --input: write the assistant's replies, "
                                       "back to back, to this WAV file."),
    export: list[Path] = typer.Option([], "--export", "-e", help="Write the session by extension: .srt, .vtt, .json, "
                                      ".txt (both speakers) or .wav (both voices mixed). Repeatable."),
    language: str | None = typer.Option(None, "--language", "-l"),
    persona: str | None = typer.Option(None, "--persona", help="System prompt of the assistant."),
    voice: str | None = typer.Option(None, "--voice", help="TTS voice (see `habla speak --list-voices`)."),
    realtime: bool = typer.Option(False, "--realtime", help="With --input: stream the file at real speed (default: "
                                  "as fast as replies are made)."),
) -> None:
    """Talk with the assistant: speak, hear the reply, interrupt it by speaking."""
    from habla.config import load_settings
    from habla.voice.engines import VoiceEngines
    from habla.voice.options import VoiceOptions

    for path in export:
        if path.suffix.lower() not in (".srt", ".vtt", ".json", ".txt", ".wav"):
            raise InvalidOption(f"cannot export to {path.name}", hint="use .srt, .vtt, .json, .txt or .wav")
    if output is not None and input_file is None:
        raise InvalidOption("--output needs --input (with the microphone, replies are played)")
    settings = load_settings()
    options = VoiceOptions.from_settings(settings, language=language, persona=persona, voice=voice)
    audio = _read(input_file) if input_file is not None else None
    devices = None if audio is not None else _sounddevice()
    console.print("[dim]loading models…[/]")
    held = VoiceEngines.from_settings(settings).hold(options)
    try:
        session = asyncio.run(_run(held, options, audio, realtime, devices))
    finally:
        held.close()
    if output is not None:
        from habla.audio.wav import write_wav

        write_wav(output, session.recording.reply_audio())
        console.print(f"replies: {output}")
    for path in export:
        console.print(f"session: {session.recording.export(path)}")


def _read(path: Path) -> np.ndarray:
    from habla.audio.decode import decode

    return decode(path)


def _sounddevice() -> Any:  # the module: optional, untyped
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there but PortAudio is not
        raise InvalidOption(f"the microphone needs sounddevice and PortAudio ({exc})",
                            hint="pip install sounddevice and apt install libportaudio2, or use --input FILE") from exc
    return sounddevice


async def _run(held: Held, options: VoiceOptions, audio: np.ndarray | None, realtime: bool,
               sd: Any) -> VoiceSession:
    from habla.voice.session import VoiceSession

    session = VoiceSession(held, options)
    player = _Player(sd, options.output_sample_rate) if sd is not None else None
    printer = asyncio.create_task(_print_events(session, player))
    try:
        if audio is not None:
            await _feed_file(session, audio, realtime)
        else:
            await _feed_microphone(session, sd)
        await session.finish()
        while not session.events.empty():
            await asyncio.sleep(0.01)
    finally:
        printer.cancel()
        await session.close()
        if player is not None:
            player.close()
    return session


async def _feed_file(session: VoiceSession, audio: np.ndarray, realtime: bool) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(0, len(audio), FRAME):
        await session.feed(audio[i:i + FRAME])
        if realtime:
            await asyncio.sleep(max(0.0, started + (i + FRAME) / 16000 - loop.time()))
        else:
            # As if replies (and turn-end decisions) were made instantly: the file's timeline decides what overlaps
            # (barge-in included) and which pauses end a turn.
            while session.thinking or session.judging:
                await asyncio.sleep(0.005)


async def _feed_microphone(session: VoiceSession, sd: Any) -> None:
    loop = asyncio.get_running_loop()
    frames: asyncio.Queue[np.ndarray] = asyncio.Queue()

    def callback(data: np.ndarray, frame_count: int, time_info: Any, status: Any) -> None:  # PortAudio's
        loop.call_soon_threadsafe(frames.put_nowait, data[:, 0].copy())

    console.print("[bold]listening[/] — speak; Ctrl-C ends the conversation")
    with sd.InputStream(samplerate=16000, channels=1, dtype="float32", blocksize=FRAME, callback=callback):
        try:
            while True:
                await session.feed(await frames.get())
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass


class _Player:
    """Plays reply audio on the default output device from its own thread; ``stop`` drops what is queued."""
    def __init__(self, sd: Any, rate: int) -> None:
        self.pending: queue.Queue[np.ndarray | None] = queue.Queue()
        self.stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32")
        self.stream.start()
        self.thread = threading.Thread(target=self._play, daemon=True)
        self.thread.start()

    def _play(self) -> None:
        while (pcm := self.pending.get()) is not None:
            for i in range(0, len(pcm), 1600):  # small writes, so a barge-in cuts in within 0.1 s
                if self.pending.queue and self.pending.queue[0] is _STOP:
                    break
                self.stream.write(pcm[i:i + 1600].reshape(-1, 1))

    def play(self, pcm: np.ndarray) -> None:
        self.pending.put(pcm)

    def stop(self) -> None:
        with self.pending.mutex:
            self.pending.queue.clear()
        self.pending.put(_STOP)

    def close(self) -> None:
        self.pending.put(None)
        self.thread.join(timeout=2)
        self.stream.close()


_STOP = np.zeros(0, np.float32)


async def _print_events(session: VoiceSession, player: _Player | None) -> None:
    while True:
        event: Event = await session.events.get()
        if isinstance(event, SpeechStarted):
            if player is not None:
                player.stop()
        elif isinstance(event, TranscriptPartial):
            console.print(f"[dim]  … {event.text}[/]")
        elif isinstance(event, TranscriptFinal):
            console.print(f"[bold cyan]you[/] {event.text}")
        elif isinstance(event, TurnDiscarded):
            console.print("[dim]  (no words)[/]")
        elif isinstance(event, ReplyAudio) and player is not None:
            player.play(event.pcm)
        elif isinstance(event, ReplyDone):
            mark = " [yellow](interrupted)[/]" if event.interrupted else ""
            console.print(f"[bold green]habla[/] {event.text}{mark}")
        elif isinstance(event, Timings):
            t = event.timings
            console.print(f"[dim]  end of speech → transcript {t.final_transcript:.2f} s, first token "
                          f"{_s(t.first_token)}, first audio {_s(t.first_audio)}[/]")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)

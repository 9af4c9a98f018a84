"""A session as it happened: both speakers' text on the input stream's clock, and the audio of both, exportable
as srt/vtt/json and as one mixed audio file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from habla.asr.types import Segment, Transcript
from habla.audio.decode import SAMPLE_RATE
from habla.audio.wav import write_wav
from habla.errors import InvalidOption
from habla.formats.registry import render
from habla.voice.frames import TurnTimings
from habla.voice.listener import InputTrack

Speaker = Literal["user", "assistant"]
EXPORT_FORMATS = ("srt", "vtt", "json", "txt")
LABELS = {"user": "User", "assistant": "Assistant"}


@dataclass(frozen=True)
class Utterance:
    speaker: Speaker
    turn: int
    start: float  # seconds on the input stream's clock
    end: float
    text: str
    interrupted: bool = False


class Recording:
    """Not thread-safe: one per session, written from its event loop."""

    def __init__(self, track: InputTrack, language: str) -> None:
        self.track, self.language = track, language
        self.utterances: list[Utterance] = []
        self.timings: list[TurnTimings] = []
        self._replies: list[tuple[int, np.ndarray]] = []  # (start sample, 16 kHz audio) of what was played

    def add_user(self, turn: int, start: float, end: float, text: str) -> None:
        self.utterances.append(Utterance("user", turn, start, end, text))

    def add_assistant(self, turn: int, start: float, audio_16k: np.ndarray, text: str, interrupted: bool) -> None:
        if text:
            end = start + len(audio_16k) / SAMPLE_RATE
            self.utterances.append(Utterance("assistant", turn, start, end, text, interrupted))
        if len(audio_16k):
            self._replies.append((int(start * SAMPLE_RATE), audio_16k))

    def transcript(self) -> Transcript:
        ordered = sorted(self.utterances, key=lambda u: (u.start, u.speaker != "user"))
        segments = [Segment(i, round(u.start, 3), round(max(u.end, u.start), 3), f"{LABELS[u.speaker]}: {u.text}")
                    for i, u in enumerate(ordered)]
        duration = max([self.track.length / SAMPLE_RATE, *(u.end for u in ordered)])
        return Transcript(text="\n".join(s.text for s in segments), language=self.language, language_probability=1.0,
                          duration=round(duration, 3), segments=segments, model="habla-talk")

    def render(self, fmt: str) -> str:
        fmt = fmt.lower().lstrip(".")
        if fmt not in EXPORT_FORMATS:
            raise InvalidOption(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(EXPORT_FORMATS)}")
        if fmt == "json":
            return json.dumps({"language": self.language,
                               "utterances": [asdict(u) for u in sorted(self.utterances, key=lambda u: u.start)],
                               "timings": [asdict(t) for t in self.timings]}, indent=2, ensure_ascii=False)
        return render(self.transcript(), fmt)

    def mixed_audio(self) -> np.ndarray:
        """The user's input and the assistant's replies on one 16 kHz track (where they overlap, both are heard)."""
        end = max([self.track.length, *(s + len(a) for s, a in self._replies)])
        mix = np.zeros(end, np.float32)
        mix[: self.track.length] += self.track.audio()
        for start, audio in self._replies:
            mix[start:start + len(audio)] += audio
        return np.clip(mix, -1.0, 1.0)

    def reply_audio(self) -> np.ndarray:
        """The assistant's replies alone, back to back (what ``habla chat --input`` writes)."""
        parts = [a for _, a in self._replies]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def export(self, path: str | Path) -> Path:
        """Write by extension: .srt/.vtt/.json/.txt text, or .wav for the mixed audio."""
        path = Path(path)
        if path.suffix.lower() == ".wav":
            return write_wav(path, self.mixed_audio())
        path.write_text(self.render(path.suffix), encoding="utf-8")
        return path


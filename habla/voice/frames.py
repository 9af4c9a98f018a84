"""What a voice session tells its transport: typed events, each with a JSON form (docs/talk.md documents them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from habla.audio.pcm import to_pcm16_bytes


@dataclass(frozen=True)
class Event:
    type = "event"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class SpeechStarted(Event):
    """The user started speaking (confirmed: long and loud enough); a reply under way was interrupted."""

    turn: int
    at: float  # seconds into the input stream
    type = "speech.started"


@dataclass(frozen=True)
class SpeechStopped(Event):
    turn: int
    at: float
    type = "speech.stopped"


@dataclass(frozen=True)
class TranscriptPartial(Event):
    turn: int
    text: str
    type = "transcript.partial"


@dataclass(frozen=True)
class TranscriptFinal(Event):
    turn: int
    text: str
    start: float
    end: float
    type = "transcript.final"


@dataclass(frozen=True)
class TurnDiscarded(Event):
    """Sound that looked like speech decoded to no words (noise, a cough): no reply."""

    turn: int
    type = "turn.discarded"


@dataclass(frozen=True)
class ReplyDelta(Event):
    turn: int
    text: str
    type = "reply.delta"


@dataclass(frozen=True)
class ReplyAudio(Event):
    """Announces the binary frame that follows: int16 little-endian mono PCM at ``sample_rate``."""

    turn: int
    text: str
    sample_rate: int
    samples: int
    pcm: np.ndarray = field(repr=False, compare=False)
    type = "reply.audio"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "turn": self.turn, "text": self.text, "sample_rate": self.sample_rate,
                "samples": self.samples}

    def pcm_bytes(self) -> bytes:
        return to_pcm16_bytes(self.pcm)


@dataclass(frozen=True)
class ReplyDone(Event):
    """The reply ended: ``text`` is what was spoken (all of it, or what was heard before an interruption)."""

    turn: int
    text: str
    interrupted: bool
    type = "reply.done"


@dataclass(frozen=True)
class TurnTimings:
    """Seconds from the end of the user's speech (the endpoint decision) to each stage's first output."""

    turn: int
    speech_seconds: float  # length of the user's turn
    endpoint_wait: float  # silence waited for before deciding the turn was over (the configured end silence)
    final_transcript: float
    first_token: float | None = None
    first_sentence: float | None = None
    first_audio: float | None = None
    reply_done: float | None = None
    tokens: int = 0
    cached_prompt_tokens: int = 0
    # The reply's own clock, from when its work began (at a pause for a speculative reply: ``lead`` seconds before
    # the endpoint decision; 0 when it began at the decision). Where the time between the user's last word and the
    # first audio goes, whether or not it was hidden by the wait.
    lead: float = 0.0
    work_transcript: float | None = None
    work_first_token: float | None = None
    work_first_sentence: float | None = None
    work_first_audio: float | None = None


@dataclass(frozen=True)
class Timings(Event):
    timings: TurnTimings
    type = "turn.timings"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self.timings)}


@dataclass(frozen=True)
class ErrorEvent(Event):
    code: str
    message: str
    type = "error"

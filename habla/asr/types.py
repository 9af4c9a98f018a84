"""The transcript data model: what every engine produces and every writer, server and assistant consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


_WORD_KEYS = ("start", "end", "word", "probability", "speaker")


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None  # set by diarization


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0  # the sampling temperature the segment's text was decoded at
    speaker: str | None = None  # set by diarization


@dataclass(frozen=True)
class TranscriptInfo:
    """What was decided before decoding: the language, the audio length and the options used."""

    language: str
    language_probability: float
    duration: float
    model: str = ""
    task: str = "transcribe"


@dataclass
class Transcript:
    text: str
    language: str
    language_probability: float
    duration: float
    segments: list[Segment] = field(default_factory=list)
    model: str = ""
    task: str = "transcribe"

    @classmethod
    def from_segments(cls, info: TranscriptInfo, segments: list[Segment]) -> Transcript:
        text = "".join(s.text for s in segments).strip()
        return cls(text=text, language=info.language, language_probability=info.language_probability,
                   duration=info.duration, segments=segments, model=info.model, task=info.task)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        known = {f.name for f in fields(Segment)}
        segments = [
            Segment(**{**{k: v for k, v in s.items() if k in known},
                       "id": s.get("id", i),
                       "words": tuple(Word(**{k: w[k] for k in _WORD_KEYS if k in w})
                                      for w in s.get("words") or ()),
                       "tokens": tuple(s.get("tokens") or ())})
            for i, s in enumerate(data.get("segments", []))
        ]
        return cls(text=data.get("text", ""), language=data.get("language", ""),
                   language_probability=float(data.get("language_probability", 1.0)),
                   duration=float(data.get("duration", segments[-1].end if segments else 0.0)),
                   segments=segments, model=data.get("model", ""), task=data.get("task", "transcribe"))

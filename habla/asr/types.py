"""The transcript data model: what every engine produces and every writer, server and assistant consumes."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any


_WORD_KEYS = ("start", "end", "word", "probability", "speaker", "tokens", "logprob")


def compression_ratio(text: str) -> float:
    """Whisper's loop measure: the text's UTF-8 length over its zlib-compressed length (rounded to 4 places)."""
    encoded = text.encode()
    return round(len(encoded) / max(len(zlib.compress(encoded)), 1), 4)


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None  # set by diarization
    tokens: tuple[int, ...] = ()  # the ids of the decoded tokens that spell the word (empty: not known)
    logprob: float | None = None  # the sum of those tokens' log-probabilities (None: not measured)


@dataclass(frozen=True)
class Segment:
    """A piece of the transcript. Whisper's figures are the segment's own where it has them, None where nothing
    measured them (a segment not decoded by Whisper, such as a talk recording's turn):

    - ``tokens``: the decoded token ids of the segment's text (of its words, for a segment cut out of a window).
    - ``avg_logprob``: the mean log-probability of those tokens. Whisper's is per decode window, the end-of-text
      token counted (sum / (n + 1)); a segment that is a whole window decoded text-only keeps exactly that, and a
      segment cut out of a word-timed window averages its own tokens as the word-alignment pass scored them (the
      same model, forced on the decoded tokens, without the previous-text prompt; no end of text).
    - ``no_speech_prob``: a property of the decode window (the no-speech token's probability at its start), so every
      segment of a window carries that window's value, as in openai-whisper.
    - ``compression_ratio``: of the segment's own text.
    """

    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float = 0.0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0  # the sampling temperature the segment's text was decoded at
    speaker: str | None = None  # set by diarization


def words_logprob(words: tuple[Word, ...] | list[Word]) -> tuple[tuple[int, ...], float | None]:
    """The words' decoded token ids and the mean log-probability of those tokens; () and None unless every word
    has both (a mean over some of the words would not be the segment's)."""
    if not words or any(not w.tokens or w.logprob is None for w in words):
        return (), None
    tokens = tuple(t for w in words for t in w.tokens)
    return tokens, round(sum(w.logprob for w in words if w.logprob is not None) / len(tokens), 4)


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
                       "words": tuple(Word(**{**{k: w[k] for k in _WORD_KEYS if k in w},
                                               "tokens": tuple(w.get("tokens") or ())})
                                      for w in s.get("words") or ()),
                       "tokens": tuple(s.get("tokens") or ())})
            for i, s in enumerate(data.get("segments", []))
        ]
        return cls(text=data.get("text", ""), language=data.get("language", ""),
                   language_probability=float(data.get("language_probability", 1.0)),
                   duration=float(data.get("duration", segments[-1].end if segments else 0.0)),
                   segments=segments, model=data.get("model", ""), task=data.get("task", "transcribe"))

"""One session's choices: settings fill what a client's ``session.start`` (or CLI flags) leave out."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from habla.config import Settings
from habla.errors import InvalidOption
from habla.voice.endpoint import EndpointOptions

OVERRIDABLE = ("language", "persona", "voice", "end_silence_ms", "min_speech_ms", "min_level_dbfs", "max_tokens",
               "max_sentences")


@dataclass(frozen=True)
class VoiceOptions:
    language: str = "en"
    persona: str = ""
    voice: str | None = None
    end_silence_ms: int = 500
    pause_ms: int = 200
    min_speech_ms: int = 250
    min_level_dbfs: float = -45.0
    vad_threshold: float = 0.5
    partial_interval_ms: int = 800
    max_turn_seconds: float = 30.0
    max_tokens: int = 40
    max_sentences: int = 2
    first_clause_chars: int = 8
    context_tokens: int = 1536
    output_sample_rate: int = 16000
    speculative_reply: bool = True

    def __post_init__(self) -> None:
        if not 100 <= self.end_silence_ms <= 5000:
            raise InvalidOption("end_silence_ms must be between 100 and 5000")
        if not 60 <= self.min_speech_ms <= 5000:
            raise InvalidOption("min_speech_ms must be between 60 and 5000")
        if not -100 <= self.min_level_dbfs <= 0:
            raise InvalidOption("min_level_dbfs must be between -100 and 0")
        if not 1 <= self.max_tokens <= 1024 or not 1 <= self.max_sentences <= 20:
            raise InvalidOption("max_tokens must be 1-1024 and max_sentences 1-20")
        if len(self.persona) > 4000:
            raise InvalidOption("the persona is longer than 4000 characters")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> VoiceOptions:
        voice = settings.voice
        values = {f.name: getattr(voice, f.name) for f in fields(cls) if hasattr(voice, f.name)}
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise InvalidOption(f"unknown session option(s): {', '.join(sorted(unknown))}",
                                hint=f"known: {', '.join(OVERRIDABLE)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except TypeError as exc:  # a wrong type from a client's JSON
            raise InvalidOption(f"invalid session option: {exc}") from exc

    def endpoint(self) -> EndpointOptions:
        return EndpointOptions(threshold=self.vad_threshold, min_speech_ms=self.min_speech_ms,
                               min_level_dbfs=self.min_level_dbfs, pause_ms=min(self.pause_ms, self.end_silence_ms),
                               end_silence_ms=self.end_silence_ms, max_turn_seconds=self.max_turn_seconds)

    def with_(self, **changes: Any) -> VoiceOptions:
        return replace(self, **changes)

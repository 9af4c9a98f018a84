"""One session's choices: settings fill what a client's ``session.start`` (or CLI flags) leave out.

Defaults and bounds are VoiceSettings' (config.py): the fields here name them, and every VoiceOptions is checked
against VoiceSettings' bounds, so a session cannot ask for what the configuration would refuse."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from pydantic import ValidationError

from habla.config import Settings, VoiceSettings
from habla.errors import InvalidOption
from habla.voice.endpoint import EndpointOptions

_DEFAULTS = VoiceSettings()

OVERRIDABLE = ("language", "persona", "voice", "end_silence_ms", "min_speech_ms", "min_level_dbfs", "max_tokens",
               "max_sentences")


@dataclass(frozen=True)
class VoiceOptions:
    language: str = _DEFAULTS.language
    persona: str = _DEFAULTS.persona
    voice: str | None = _DEFAULTS.voice
    end_silence_ms: int = _DEFAULTS.end_silence_ms
    pause_ms: int = _DEFAULTS.pause_ms
    min_speech_ms: int = _DEFAULTS.min_speech_ms
    min_level_dbfs: float = _DEFAULTS.min_level_dbfs
    vad_threshold: float = _DEFAULTS.vad_threshold
    partial_interval_ms: int = _DEFAULTS.partial_interval_ms
    max_turn_seconds: float = _DEFAULTS.max_turn_seconds
    max_tokens: int = _DEFAULTS.max_tokens
    max_sentences: int = _DEFAULTS.max_sentences
    first_clause_chars: int = _DEFAULTS.first_clause_chars
    context_tokens: int = _DEFAULTS.context_tokens
    output_sample_rate: int = _DEFAULTS.output_sample_rate
    speculative_reply: bool = _DEFAULTS.speculative_reply

    def __post_init__(self) -> None:
        try:  # strict: a client's "500" (a string) is an error, not a number
            VoiceSettings.model_validate({f.name: getattr(self, f.name) for f in fields(self)}, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(part) for part in first["loc"])
            raise InvalidOption(f"invalid session option {name}: {first['msg']}") from None

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

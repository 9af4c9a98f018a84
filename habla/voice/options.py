"""One session's choices: settings fill what a client's ``session.start`` (or CLI flags) leave out.

Defaults and bounds are VoiceSettings' (config.py): the fields here name them, and every VoiceOptions is checked
against VoiceSettings' bounds, so a session cannot ask for what the configuration would refuse."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from pydantic import ValidationError

from habla.config import Settings, VoiceSettings
from habla.errors import InvalidOption
from habla.voice.endpoint import EndpointOptions
from habla.voice.turn import EAGERNESS, TYPES, TurnDetection

_DEFAULTS = VoiceSettings()

OVERRIDABLE = ("language", "persona", "voice", "end_silence_ms", "min_speech_ms", "min_level_dbfs", "max_tokens",
               "max_sentences", "turn_detection")
TURN_DETECTION_FIELDS = ("type", "eagerness")  # what a client may choose, as in OpenAI Realtime's session


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
    speculate_ms: int = _DEFAULTS.speculate_ms
    turn_detection: TurnDetection = field(default_factory=TurnDetection)

    def __post_init__(self) -> None:
        try:  # strict: a client's "500" (a string) is an error, not a number
            VoiceSettings.model_validate({f.name: getattr(self, f.name) for f in fields(self)
                                          if f.name != "turn_detection"}, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(part) for part in first["loc"])
            raise InvalidOption(f"invalid session option {name}: {first['msg']}") from None
        if not isinstance(self.turn_detection, TurnDetection):
            raise InvalidOption("turn_detection must be an object like {\"type\": \"semantic\", \"eagerness\": "
                                "\"medium\"}")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> VoiceOptions:
        voice = settings.voice
        values = {f.name: getattr(voice, f.name) for f in fields(cls) if hasattr(voice, f.name)}
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise InvalidOption(f"unknown session option(s): {', '.join(sorted(unknown))}",
                                hint=f"known: {', '.join(OVERRIDABLE)}")
        values["turn_detection"] = TurnDetection(**voice.turn_detection.model_dump())
        if overrides.get("turn_detection") is not None:
            overrides = {**overrides, "turn_detection": _turn_detection(values["turn_detection"],
                                                                        overrides["turn_detection"])}
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except TypeError as exc:  # a wrong type from a client's JSON
            raise InvalidOption(f"invalid session option: {exc}") from exc

    @property
    def semantic(self) -> bool:
        return self.turn_detection.type == "semantic"

    def endpoint(self) -> EndpointOptions:
        """Semantic turn detection waits the longest silence unless a pause's transcript says the turn is over."""
        end_silence = self.turn_detection.max_silence_ms if self.semantic else self.end_silence_ms
        return EndpointOptions(threshold=self.vad_threshold, min_speech_ms=self.min_speech_ms,
                               min_level_dbfs=self.min_level_dbfs, pause_ms=min(self.pause_ms, end_silence),
                               speculate_ms=self.speculate_ms if self.speculative_reply else 0,
                               end_silence_ms=end_silence, max_turn_seconds=self.max_turn_seconds)

    def with_(self, **changes: Any) -> VoiceOptions:
        return replace(self, **changes)


def _turn_detection(base: TurnDetection, value: Any) -> TurnDetection:
    """A client's ``turn_detection`` object: ``type`` and ``eagerness`` over the settings' values."""
    if not isinstance(value, dict):
        raise InvalidOption("turn_detection must be an object like {\"type\": \"semantic\", \"eagerness\": "
                            "\"medium\"}")
    unknown = set(value) - set(TURN_DETECTION_FIELDS)
    if unknown:
        raise InvalidOption(f"unknown turn_detection field(s): {', '.join(sorted(map(str, unknown)))}",
                            hint="known: type, eagerness")
    if value.get("type", base.type) not in TYPES:
        raise InvalidOption(f"turn_detection.type must be one of: {', '.join(TYPES)}")
    if value.get("eagerness", base.eagerness) not in EAGERNESS:
        raise InvalidOption(f"turn_detection.eagerness must be one of: {', '.join(EAGERNESS)}")
    return replace(base, **value)

"""One session's choices: settings fill what a client's ``session.start`` (or CLI flags) leave out."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from habla.config import Settings
from habla.errors import InvalidOption
from habla.voice.endpoint import EndpointOptions
from habla.voice.turn import EAGERNESS, TYPES, TurnDetection

OVERRIDABLE = ("language", "persona", "voice", "end_silence_ms", "min_speech_ms", "min_level_dbfs", "max_tokens",
               "max_sentences", "turn_detection")
TURN_DETECTION_FIELDS = ("type", "eagerness")  # what a client may choose, as in OpenAI Realtime's session


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
    turn_detection: TurnDetection = field(default_factory=TurnDetection)

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

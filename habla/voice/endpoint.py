"""Streaming end-of-turn detection: Silero VAD over 32 ms windows, its LSTM state carried from window to window,
plus a level gate and a minimum speech length so that breathing, clicks and quiet noise never make a turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from habla.audio.decode import SAMPLE_RATE
from habla.audio.vad import StreamingVAD, silero_stream
from habla.config import VoiceSettings

HYSTERESIS = 0.15  # once speaking, speech continues until the probability drops this far below the threshold
PAD_MS = 200  # audio kept before the first voiced window (Silero fires a little late)
_DEFAULTS = VoiceSettings()  # the defaults live in config.py (VoiceOptions.endpoint() passes a session's own)


@dataclass(frozen=True)
class EndpointOptions:
    threshold: float = _DEFAULTS.vad_threshold
    min_speech_ms: int = _DEFAULTS.min_speech_ms
    min_level_dbfs: float = _DEFAULTS.min_level_dbfs
    pause_ms: int = _DEFAULTS.pause_ms
    speculate_ms: int = 0  # a `hint` this long into a silence, before its pause (VoiceOptions passes the setting)
    end_silence_ms: int = _DEFAULTS.end_silence_ms
    max_turn_seconds: float = _DEFAULTS.max_turn_seconds


@dataclass(frozen=True)
class VadEvent:
    """``start``: speech confirmed (``sample`` = where it began, padded); ``hint``: a silence long enough to start
    a speculative reply, not yet a pause; ``pause``: a short silence inside the turn (``sample`` = end of the speech
    before it, for both); ``resume``: speech again after a hint or a pause; ``end``: the turn is over (``sample`` =
    end of its speech)."""

    kind: Literal["start", "hint", "pause", "resume", "end"]
    sample: int


def level_dbfs(window: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64)))) if window.size else 0.0
    return 20 * np.log10(max(rms, 1e-10))


class Endpointer:
    """Feed 16 kHz float32 audio of any length; get the events it completes. Not thread-safe (one per session)."""

    def __init__(self, options: EndpointOptions = EndpointOptions(), vad: StreamingVAD | None = None) -> None:
        self.options = options
        self._vad = vad or silero_stream()
        self._pending = np.zeros(0, np.float32)
        self.position = 0  # samples consumed
        self.speaking = False  # a confirmed turn is open
        self._candidate: int | None = None  # first voiced sample of speech not yet long enough
        self._voiced = 0  # voiced samples since the candidate started
        self._voiced_flag = False
        self._last_voiced_end = 0
        self._turn_start = 0
        self._paused = False
        self._hinted = False
        self._end_silence = options.end_silence_ms  # this pause's end silence (adapted by semantic turn detection)

    def feed(self, audio: np.ndarray) -> list[VadEvent]:
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        events: list[VadEvent] = []
        size = self._vad.window
        while len(self._pending) >= size:
            window, self._pending = self._pending[:size], self._pending[size:]
            events.extend(self._window(window))
        return events

    def reset(self) -> None:
        """Forget the open turn (the caller ended it)."""
        self.speaking, self._candidate, self._voiced, self._paused, self._hinted = False, None, 0, False, False
        self._end_silence = self.options.end_silence_ms

    @property
    def last_voiced_end(self) -> int:
        """Sample after the last voiced window."""
        return self._last_voiced_end

    def adapt_end_silence(self, pause: int, end_silence_ms: int) -> list[VadEvent]:
        """The silence that ends the turn at the pause after ``pause`` (a pause event's sample), at most the
        options' ``end_silence_ms``; the turn ends now if that much silence has already passed. No effect once the
        user went on (a new pause has its own)."""
        if not (self.speaking and self._paused and self._last_voiced_end == pause):
            return []
        self._end_silence = min(end_silence_ms, self.options.end_silence_ms)
        if self.position - self._last_voiced_end >= self._end_silence * SAMPLE_RATE // 1000:
            self.reset()
            return [VadEvent("end", pause)]
        return []

    def _is_voiced(self, window: np.ndarray) -> bool:
        p = self._vad.probability(window)
        threshold = self.options.threshold - (HYSTERESIS if self._voiced_flag else 0.0)
        self._voiced_flag = p >= threshold and level_dbfs(window) >= self.options.min_level_dbfs
        return self._voiced_flag

    def _window(self, window: np.ndarray) -> list[VadEvent]:
        start, self.position = self.position, self.position + len(window)
        voiced = self._is_voiced(window)
        if voiced:
            self._last_voiced_end = self.position
        return self._in_turn(voiced) if self.speaking else self._before_turn(voiced, start)

    def _before_turn(self, voiced: bool, start: int) -> list[VadEvent]:
        opts = self.options
        if voiced:
            if self._candidate is None:
                self._candidate, self._voiced = start, 0
            self._voiced += self._vad.window
            if self._voiced >= opts.min_speech_ms * SAMPLE_RATE // 1000:
                self.speaking, self._paused = True, False
                self._turn_start = max(0, self._candidate - PAD_MS * SAMPLE_RATE // 1000)
                self._candidate = None
                return [VadEvent("start", self._turn_start)]
        elif (self._candidate is not None
              and self.position - self._last_voiced_end > opts.pause_ms * SAMPLE_RATE // 1000):
            self._candidate = None  # a blip: too short to be speech
        return []

    def _in_turn(self, voiced: bool) -> list[VadEvent]:
        opts = self.options
        silence = self.position - self._last_voiced_end
        if voiced:
            resumed, self._paused, self._hinted = self._paused or self._hinted, False, False
            self._end_silence = opts.end_silence_ms
            if self.position - self._turn_start >= opts.max_turn_seconds * SAMPLE_RATE:
                self.reset()
                return [VadEvent("end", self.position)]
            return [VadEvent("resume", self.position)] if resumed else []
        if silence >= self._end_silence * SAMPLE_RATE // 1000:
            self.reset()
            return [VadEvent("end", self._last_voiced_end)]
        events = []
        if (not self._hinted and not self._paused and 0 < opts.speculate_ms < opts.pause_ms
                and silence >= opts.speculate_ms * SAMPLE_RATE // 1000):
            self._hinted = True
            events.append(VadEvent("hint", self._last_voiced_end))
        if not self._paused and silence >= opts.pause_ms * SAMPLE_RATE // 1000:
            self._paused = True
            events.append(VadEvent("pause", self._last_voiced_end))
        return events

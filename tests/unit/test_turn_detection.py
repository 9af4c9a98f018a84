"""Semantic end of turn: transcript completeness, the pitch cue, the adaptive end silence of the endpointer, session
options, and the decisions on real speech with a pause inserted mid-sentence."""

from __future__ import annotations

import numpy as np
import pytest

from habla.audio.decode import decode
from habla.config import load_settings
from habla.errors import InvalidOption
from habla.voice.bench import ScriptedTurn, decide, last_voiced
from habla.voice.endpoint import Endpointer, EndpointOptions
from habla.voice.options import VoiceOptions
from habla.voice.turn import (
    PITCH_NEUTRAL,
    TurnDetection,
    end_of_turn_probability,
    final_pitch_drop,
    pitch_track,
    text_completeness,
)
from tests.conftest import RATE, SPEECH_DIR


def clip(name: str) -> np.ndarray:
    path = SPEECH_DIR / f"{name}.flac"
    if not path.is_file():
        pytest.skip("test audio not found")
    return decode(path)


@pytest.mark.parametrize(("text", "language", "finished"), [
    ("Please hold while we try to connect you.", "en", True),
    ("Change to which folder?", "en", True),
    ("I'd like to book a table for", "en", False),
    ("I'd like to book a table for...", "en", False),
    ("To leave a message, please enter", "en", False),  # no full stop: Whisper's mark of speech cut mid-way
    ("Welcome to the-", "en", False),
    ("La conferencia está ahora bloqueada.", "es", True),
    ("Marque el número cinco para", "es", False),
    ("Usted es el", "es", False),
    ("", "en", False),
])
def test_text_completeness(text: str, language: str, finished: bool) -> None:
    assert (text_completeness(text, language) >= TurnDetection().threshold) is finished


def test_pitch_moves_the_text_but_never_finishes_a_dangling_word() -> None:
    assert end_of_turn_probability("Press five to leave a message", "en", 7.0) > 0.5  # no full stop, but it fell
    assert end_of_turn_probability("Press five to leave a message.", "en", -2.0) < 0.5  # a full stop, but level
    assert end_of_turn_probability("Press five to leave a", "en", 9.0) < 0.5
    assert end_of_turn_probability("Press five.", "en", None) == text_completeness("Press five.", "en")


def test_pitch_track_follows_a_falling_tone() -> None:
    t = np.arange(2 * RATE) / RATE
    f0 = np.maximum(220 - 60 * t, 100)  # 220 Hz falling to 100 Hz
    tone = (0.3 * np.sin(2 * np.pi * np.cumsum(f0) / RATE)).astype(np.float32)
    track = pitch_track(tone)
    assert abs(np.median(track[:10]) - 220) < 10 and abs(np.median(track[-10:]) - 100) < 8
    assert final_pitch_drop(tone) > PITCH_NEUTRAL
    assert final_pitch_drop(tone[::-1].copy()) < 0  # rising
    assert final_pitch_drop(np.zeros(RATE, np.float32)) is None


def test_a_finished_recording_ends_low() -> None:
    speech = clip("ast-en-privacy-incorrect")  # "I'm sorry, that number is not valid."
    assert final_pitch_drop(speech[:last_voiced(speech)]) > PITCH_NEUTRAL


def test_the_end_silence_adapts_at_a_pause() -> None:
    speech = clip("ast-en-privacy-incorrect")
    endpointer = Endpointer(EndpointOptions(end_silence_ms=1500, pause_ms=200))
    events = endpointer.feed(np.concatenate([speech, np.zeros(int(0.3 * RATE), np.float32)]))
    pause = next(e for e in reversed(events) if e.kind == "pause")
    assert not any(e.kind == "end" for e in events)
    assert endpointer.adapt_end_silence(pause.sample + 512, 200) == []  # not this pause: no effect
    assert endpointer.adapt_end_silence(pause.sample, 1000) == []  # 0.3 s waited, not 1 s yet
    ended = endpointer.adapt_end_silence(pause.sample, 250)  # the transcript says it was finished
    assert [(e.kind, e.sample) for e in ended] == [("end", pause.sample)] and not endpointer.speaking
    assert endpointer.adapt_end_silence(pause.sample, 250) == []  # the turn is over


def test_turn_detection_is_a_session_option() -> None:
    settings = load_settings()
    default = VoiceOptions.from_settings(settings)
    assert default.turn_detection.type == settings.voice.turn_detection.type
    high = VoiceOptions.from_settings(settings, turn_detection={"type": "semantic", "eagerness": "high"})
    low = VoiceOptions.from_settings(settings, turn_detection={"eagerness": "low"})
    assert high.turn_detection.end_silence_ms(1.0) < default.turn_detection.end_silence_ms(1.0) \
        < low.turn_detection.end_silence_ms(1.0)
    assert high.endpoint().end_silence_ms < low.endpoint().end_silence_ms  # the longest wait, for unfinished turns
    silence = VoiceOptions.from_settings(settings, turn_detection={"type": "silence"}, end_silence_ms=700)
    assert silence.endpoint().end_silence_ms == 700
    for bad in ({"type": "vad"}, {"eagerness": "max"}, {"create_response": True}, "semantic", ["semantic"]):
        with pytest.raises(InvalidOption):
            VoiceOptions.from_settings(settings, turn_detection=bad)


def test_a_mid_sentence_pause_ends_a_silence_turn_but_not_a_semantic_one() -> None:
    """Real speech and VAD; the transcript is given ("I'm sorry, that number is" before the pause)."""
    speech = clip("ast-en-privacy-incorrect")  # "I'm sorry, that number is | not valid."
    cut = int(1.62 * RATE)  # between "is" and "not"
    audio = np.concatenate([speech[:cut], np.zeros(RATE, np.float32), speech[cut:]])
    turn = ScriptedTurn("t", "en", audio, last_voiced(audio), cut + RATE, cut, 1000)

    def transcript(piece: np.ndarray, prompt: str) -> str:  # pieces are decoded in order: before and after the pause
        return "not valid." if prompt else "I'm sorry, that number is"

    settings = load_settings()
    semantic = decide(turn, VoiceOptions.from_settings(settings, turn_detection={"type": "semantic"}), transcript)
    silence = decide(turn, VoiceOptions.from_settings(settings, turn_detection={"type": "silence"}), transcript)
    assert silence.end is not None and silence.end < turn.resume  # cut at the pause
    assert semantic.end is not None and semantic.end >= turn.speech_end - RATE // 10
    assert semantic.waited_ms <= 300  # "not valid." with a falling voice: answered after a short silence

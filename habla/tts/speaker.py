"""The one entry point for speech synthesis: checks the text, picks the voice, splits sentences and shares loaded
engines between callers (CLI, server, voice chat)."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np

from habla.config import Settings, TTSSettings, load_settings
from habla.errors import InvalidOption
from habla.models.manager import ModelManager
from habla.models.store import ModelStore
from habla.tts.protocol import AudioChunk, TTSEngine, Voice
from habla.tts.sentences import has_words, speakable, split_sentences
from habla.tts.voices import VoiceRegistry

MIN_SPEED, MAX_SPEED = 0.25, 4.0


@dataclass(frozen=True)
class SpeakOptions:
    """One request's choices; CLI flags and HTTP fields map onto this, settings fill what they leave out."""

    voice: str | None = None
    language: str | None = None
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not MIN_SPEED <= self.speed <= MAX_SPEED:
            raise InvalidOption(f"speed {self.speed} is out of range", hint=f"use {MIN_SPEED} to {MAX_SPEED}")


class SpeechRun:
    """Audio of one text, made sentence by sentence as it is iterated; ``voice`` and ``sentences`` are known
    at once. ``audio()`` waits for all of it."""

    def __init__(self, chunks: Iterator[AudioChunk], voice: Voice, sentences: list[str]) -> None:
        self._chunks = chunks
        self.voice = voice
        self.sentences = sentences

    def __iter__(self) -> Iterator[AudioChunk]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()  # type: ignore[attr-defined]  # a generator: releases the engine

    def audio(self) -> AudioChunk:
        chunks = list(self._chunks)
        if not chunks:
            return AudioChunk(np.zeros(0, np.float32), self.voice.sample_rate, "")
        pcm = np.concatenate([c.float32() for c in chunks])
        return AudioChunk(pcm, chunks[0].sample_rate, " ".join(self.sentences))


class Speaker:
    """Thread-safe. One per process is enough: each voice loads once and is shared by every call."""

    def __init__(self, tts: TTSSettings, store: ModelStore) -> None:
        self.tts = tts
        self.store = store
        self.registry = VoiceRegistry(tts, store)
        self.engines: ModelManager[TTSEngine] = ModelManager(self._load, idle_seconds=tts.idle_unload_seconds)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, store: ModelStore | None = None) -> Speaker:
        """From the whole configuration (loaded from the environment when not given), with a store of its own
        unless one is shared."""
        settings = settings or load_settings()
        return cls(settings.tts, store or ModelStore(settings.models))

    def options(self, voice: str | None = None, language: str | None = None,
                speed: float | None = None) -> SpeakOptions:
        return SpeakOptions(voice=voice, language=language, speed=self.tts.speed if speed is None else speed)

    def voices(self) -> list[Voice]:
        return self.registry.voices()

    def resolve(self, options: SpeakOptions) -> Voice:
        return self.registry.resolve(options.voice, options.language)

    def check_text(self, text: str) -> str:
        text = text.strip()
        limit = self.tts.max_chars
        if not text:
            raise InvalidOption("the text to speak is empty")
        if len(text) > limit:
            raise InvalidOption(f"the text has {len(text)} characters; at most {limit} are accepted",
                                hint="split it, or raise HABLA_TTS__MAX_CHARS")
        if not has_words(text):
            raise InvalidOption("the text has no words to speak")
        return text

    def speak(self, text: str, options: SpeakOptions | None = None,
              cancel: threading.Event | None = None) -> SpeechRun:
        """Check the text and voice now (errors raise here); synthesise sentence by sentence when iterated."""
        options = options or self.options()
        text = self.check_text(text)
        voice = self.resolve(options)
        tts = self.tts
        sentences = split_sentences(text, tts.first_clause_chars, tts.max_sentence_chars)
        return SpeechRun(self.speak_sentences(sentences, voice, options.speed, cancel), voice, sentences)

    def speak_sentences(self, sentences: Iterable[str], voice: Voice, speed: float = 1.0,
                        cancel: threading.Event | None = None) -> Iterator[AudioChunk]:
        """Audio for sentences as they come (e.g. from ``habla.tts.sentences.iter_sentences`` over LLM output)."""
        with self.engines.use(self._engine_key(voice)) as engine:
            for sentence in sentences:
                if cancel is not None and cancel.is_set():
                    return
                if has_words(spoken := speakable(sentence)):
                    yield from engine.synthesize(spoken, voice, speed, cancel)

    def warm(self, options: SpeakOptions | None = None) -> Voice:
        """Load a voice now (e.g. at server start) rather than on the first request."""
        voice = self.resolve(options or self.options())
        with self.engines.use(self._engine_key(voice)):
            return voice

    @staticmethod
    def _engine_key(voice: Voice) -> tuple[str, str]:
        # espeak-ng serves every language from one engine; each Piper voice is its own ONNX session.
        return (voice.engine, voice.model if voice.engine == "piper" else "")

    def _load(self, key: Hashable) -> TTSEngine:
        engine, model = cast(tuple[str, str], key)  # made by _engine_key
        tts = self.tts
        if engine == "espeak":
            from habla.tts.espeak import EspeakEngine

            return EspeakEngine(rate=tts.espeak_rate, word_gap=tts.espeak_word_gap)
        from habla.tts.piper import PiperEngine
        from habla.tts.voices import piper_voice

        voice = piper_voice(model)
        location = self.store.locate(model)
        return PiperEngine(voice, location.path / f"{model}.onnx", threads=tts.threads)

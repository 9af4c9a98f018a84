"""The three models a conversation needs, shared by every session of a process and kept loaded while any session
is open (a reload would cost seconds in the middle of a turn)."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import dataclass

from habla.asr.protocol import ASREngine
from habla.asr.transcriber import Transcriber
from habla.config import LLMSettings, Settings
from habla.llm.protocol import ChatOptions, LLMEngine
from habla.llm.service import LLMService, gguf_path
from habla.llm.turn_end import TurnEndModel
from habla.models.store import ModelStore
from habla.tts.protocol import Voice
from habla.tts.speaker import Speaker
from habla.voice.memory import Conversation
from habla.voice.options import VoiceOptions


@dataclass
class Held:
    """Loaded engines held for one session; ``close`` lets them go idle."""

    asr: ASREngine
    llm: LLMEngine
    speaker: Speaker
    voice: Voice
    stack: ExitStack
    llm_settings: LLMSettings  # the reply's sampling defaults
    turn_end: TurnEndModel | None = None  # semantic turn detection's chat-model cue

    def close(self) -> None:
        self.stack.close()


class VoiceEngines:
    """Thread-safe. Around the server's already shared services, or ``from_settings``. Its settings are theirs:
    the transcriber's default model, the LLM's sampling defaults, the speaker's voices."""

    def __init__(self, transcriber: Transcriber, llm: LLMService, speaker: Speaker) -> None:
        self.transcriber, self.llm, self.speaker = transcriber, llm, speaker
        self._primed: set[tuple[str, str]] = set()
        self._turn_end: dict[str, TurnEndModel] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceEngines:
        """From the whole configuration: the three services sharing one ModelStore."""
        store = ModelStore(settings.models)
        return cls(Transcriber.from_settings(settings, store), LLMService.from_settings(settings, store),
                   Speaker.from_settings(settings, store))

    def hold(self, options: VoiceOptions) -> Held:
        """Load (once) and hold ASR, LLM and voice; the persona's prompt is evaluated once so its KV is cached."""
        stack = ExitStack()
        try:
            whisper = stack.enter_context(self.transcriber.models.use(self.transcriber.asr.model))
            llm = stack.enter_context(self.llm.engine())
            voice = self.speaker.resolve(self.speaker.options(voice=options.voice, language=options.language))
            self.speaker.warm(self.speaker.options(voice=options.voice, language=options.language))
            stack.enter_context(self.speaker.engines.use(Speaker._engine_key(voice)))
            self._prime(llm, options)
        except BaseException:
            stack.close()
            raise
        return Held(whisper, llm, self.speaker, voice, stack, self.llm.llm, self.turn_end(options))

    def turn_end(self, options: VoiceOptions) -> TurnEndModel | None:
        """The end-of-turn model of semantic turn detection, loaded once per process (~100 MB, mmap'd)."""
        name = options.turn_detection.model
        if not options.semantic or not name:
            return None
        with self._lock:
            if name not in self._turn_end:
                self._turn_end[name] = TurnEndModel(gguf_path(self.llm.store, name))
            return self._turn_end[name]

    def _prime(self, llm: LLMEngine, options: VoiceOptions) -> None:
        key = (options.persona, options.language)
        with self._lock:
            if key in self._primed:
                return
            self._primed.add(key)
        messages = Conversation(options.persona, options.language, options.context_tokens).prompt("Hi.")
        for _ in llm.chat(messages, ChatOptions(max_tokens=1)):
            pass

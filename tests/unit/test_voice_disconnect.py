"""A talk client that hangs up mid-reply: closing its session stops the LLM at its next token (the server's
/v1/talk closes the session when the socket goes). Real Silero endpointing, fake ASR, LLM and TTS."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from types import SimpleNamespace

import numpy as np

from habla.config import Settings
from habla.llm.protocol import ChatStream
from habla.tts.protocol import Voice
from habla.voice.engines import Held
from habla.voice.frames import ReplyDelta
from habla.voice.options import VoiceOptions
from habla.voice.session import VoiceSession
from tests.conftest import RATE, WordCountingLLM, speech_clip


class HeardASR:
    name = "fake"

    def decode_piece(self, audio: np.ndarray, language: str, prompt: str) -> str:
        return "Please hold the line."


class EndlessLLM(WordCountingLLM):
    """Says its first word, then waits for the cancel event (up to 10 s) before each of three more: a reply that
    would run on while nobody listens."""

    def __init__(self) -> None:
        self.stopped_by_cancel = threading.Event()
        self.finished = threading.Event()

    def chat(self, messages, options, cancel=None) -> ChatStream:  # noqa: ANN001
        assert cancel is not None

        def pieces() -> Iterator[str]:
            try:
                yield "Sure"
                for _ in range(3):
                    if cancel.wait(10):
                        self.stopped_by_cancel.set()
                        return
                    yield " and"
            finally:
                self.finished.set()

        return ChatStream(pieces())


def test_closing_a_session_mid_reply_stops_the_llm() -> None:
    speech = speech_clip("ast-en-vm-leavemsg")  # "Press 5 to leave a message", 2.1 s
    settings = Settings()
    llm = EndlessLLM()
    voice = Voice(name="fake", engine="piper", language="en", sample_rate=22050, model="fake")
    held = Held(HeardASR(), llm, SimpleNamespace(tts=settings.tts), voice, ExitStack(),  # type: ignore[arg-type]
                settings.llm)
    options = VoiceOptions.from_settings(settings, turn_detection={"type": "silence"})

    async def converse() -> None:
        session = VoiceSession(held, options)
        audio = np.concatenate([np.zeros(RATE // 2, np.float32), speech, np.zeros(2 * RATE, np.float32)])
        for i in range(0, len(audio), 320):
            await session.feed(audio[i:i + 320])
        while not isinstance(await asyncio.wait_for(session.events.get(), 60), ReplyDelta):
            pass  # the reply is being made
        await session.close()  # the client hung up

    asyncio.run(converse())
    assert llm.stopped_by_cancel.is_set() and llm.finished.is_set()  # stopped at its next token, thread done

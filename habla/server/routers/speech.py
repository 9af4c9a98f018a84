"""POST /v1/audio/speech (OpenAI's text-to-speech API) and GET /v1/audio/voices.

Audio streams as it is made: the first sentence is synthesised and encoded before the response starts (so a bad
voice or a missing model is still an error body, not a broken stream), and each further sentence follows in its
own chunk. OpenAI voice names (alloy, nova, ...) mean the best voice for the language.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from habla.errors import HablaError, InvalidOption
from habla.server.dependencies import SlotsDep, SpeakerDep
from habla.tts.encode import FORMATS, encode_stream
from habla.tts.speaker import MAX_SPEED, MIN_SPEED, Speaker, SpeechRun
from habla.tts.voices import OPENAI_VOICES

router = APIRouter(tags=["speech"])
# OpenAI's speech models and habla's own names; all of them mean "habla's voices".
MODELS = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "habla", "default", "piper", "espeak"})


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. OpenAI's `instructions`, which a Piper voice cannot follow

    model: str = "tts-1"
    input: str
    voice: str | None = Field(None, description="A habla voice, or an OpenAI name for the language's best voice.")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float | None = Field(None, ge=MIN_SPEED, le=MAX_SPEED)
    language: str | None = Field(None, description="habla extension: the language when the voice does not say.")
    stream_format: Literal["audio"] = "audio"


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise InvalidOption(f"model {model!r} is not a speech model served here",
                            hint=f"use one of: {', '.join(sorted(MODELS))}")


def _start(spk: Speaker, body: SpeechRequest, cancel: threading.Event) -> tuple[SpeechRun, Iterator[bytes], bytes]:
    """Check the request, load the voice and encode the first sentence, all before any byte is sent."""
    options = spk.options(voice=body.voice, language=body.language, speed=body.speed)
    run = spk.speak(body.input, options, cancel)
    encoded = encode_stream(run, body.response_format, spk.settings.tts.sample_rate)
    try:
        first = next(encoded, b"")
    except BaseException:
        run.close()
        raise
    return run, encoded, first


@router.post("/v1/audio/speech", response_model=None)
async def create_speech(request: Request, body: SpeechRequest, spk: SpeakerDep, slots: SlotsDep) -> StreamingResponse:
    _check_model(body.model)
    async with AsyncExitStack() as stack:
        # Speech has its own slots: a sentence takes a fraction of a second, so it should not queue behind
        # minutes-long transcriptions, yet unbounded parallel synthesis would starve everything on a small CPU.
        await stack.enter_async_context(slots.speech.slot())
        cancel = threading.Event()
        run, encoded, first = await run_in_threadpool(_start, spk, body, cancel)
        headers = {"X-Habla-Voice": run.voice.name, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        body_stream = _body(request, first, encoded, run, cancel, stack.pop_all())
    return StreamingResponse(body_stream, media_type=FORMATS[body.response_format].media_type, headers=headers)


async def _body(request: Request, first: bytes, encoded: Iterator[bytes], run: SpeechRun,
                cancel: threading.Event, slot: AsyncExitStack) -> AsyncIterator[bytes]:
    async with slot:  # the slot is held until the last byte
        try:
            yield first
            async for data in iterate_in_threadpool(encoded):
                if await request.is_disconnected():
                    break
                yield data
        finally:
            cancel.set()  # a client that hung up stops synthesis at the next sentence
            await run_in_threadpool(_close, encoded, run)


def _close(encoded: Iterator[bytes], run: SpeechRun) -> None:
    """Release the voice now. A generator still running in a worker thread (the client left mid-sentence)
    cannot be closed from here; it stops at the cancel and releases the voice when collected."""
    for generator in (encoded, run):
        try:
            generator.close()  # type: ignore[union-attr]  # both are generators, typed as their protocols
        except ValueError:  # "generator already executing"
            pass


def _voice_json(voice: Any, default: bool) -> dict[str, Any]:
    return {"id": voice.name, "object": "voice", "engine": voice.engine, "language": voice.language,
            "sample_rate": voice.sample_rate, "description": voice.description, "aliases": list(voice.aliases),
            "default": default}


def _default_voice(spk: Speaker) -> str | None:
    try:
        return spk.registry.default_for(spk.settings.tts.language).name
    except HablaError:  # no voice for the configured language: the list still says what there is
        return None


@router.get("/v1/audio/voices")
async def list_voices(spk: SpeakerDep) -> dict[str, Any]:
    """Every voice this server can speak with; ``default`` marks the one OpenAI names map to."""
    voices = await run_in_threadpool(spk.voices)
    default = await run_in_threadpool(_default_voice, spk)
    return {"object": "list", "data": [_voice_json(v, v.name == default) for v in voices],
            "openai_voices": sorted(OPENAI_VOICES)}

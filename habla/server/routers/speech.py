"""POST /v1/audio/speech (OpenAI's text-to-speech API) and GET /v1/audio/voices.

Audio streams as it is made: the first sentence is synthesised and encoded before the response starts (so a bad
voice or a missing model is still an error body, not a broken stream), and each further sentence follows in its
own chunk. OpenAI voice names (alloy, nova, ...) mean the best voice for the language. FLAC is the exception: it
is sent whole, so that its header can state the length.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import ServerSentEvent
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from habla.errors import HablaError, InvalidOption
from habla.models.openai_names import ALIASES, HABLA_NAMES, is_alias
from habla.server.dependencies import SlotsDep, SpeakerDep
from habla.server.routers.openai_shapes import event_stream, sse
from habla.tts.encode import FORMATS, encode_stream, encode_whole
from habla.tts.speaker import MAX_SPEED, MIN_SPEED, Speaker, SpeechRun
from habla.tts.voices import OPENAI_VOICES, PIPER_VOICES

SSE_PING_SECONDS = 15  # keeps proxies from closing a quiet stream (a long sentence takes seconds on a small CPU)
WHOLE_FORMATS = ("flac",)  # the header states the length and MD5: sent once all audio is made

router = APIRouter(tags=["speech"])


class VoiceId(BaseModel):
    """OpenAI's custom-voice object; here ``id`` is any voice name."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. OpenAI's `instructions`, which a Piper voice cannot follow

    model: str = "tts-1"
    input: str
    voice: str | VoiceId | None = Field(None, description="A habla voice, or an OpenAI name for the language's best "
                                                          "voice; also as OpenAI's object {\"id\": ...}.")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float | None = Field(None, ge=MIN_SPEED, le=MAX_SPEED)
    language: str | None = Field(None, description="habla extension: the language when the voice does not say.")
    stream_format: Literal["audio", "sse"] = "audio"

    def voice_name(self) -> str | None:
        return self.voice.id if isinstance(self.voice, VoiceId) else self.voice


def _voice_for(spk: Speaker, body: SpeechRequest) -> str | None:
    """The voice a request names. The model may name one too (a Piper voice listed in /v1/models): it is used
    when the voice field is empty or an OpenAI name, which only means "the best voice"."""
    voice = body.voice_name()
    if is_alias(body.model, "speech"):
        return voice
    if body.model in PIPER_VOICES and spk.registry.piper_installed(body.model):
        return body.model if not voice or voice.lower() in OPENAI_VOICES else voice
    known = sorted(ALIASES["speech"] | HABLA_NAMES["speech"]) + list(PIPER_VOICES)
    raise InvalidOption(f"model {body.model!r} is not a speech model served here",
                        hint=f"use one of: {', '.join(known)} (GET /v1/models lists them)")


def _start(spk: Speaker, body: SpeechRequest, cancel: threading.Event) -> tuple[SpeechRun, Iterator[bytes], bytes]:
    """Check the request, load the voice and encode the first sentence, all before any byte is sent."""
    options = spk.options(voice=_voice_for(spk, body), language=body.language, speed=body.speed)
    run = spk.speak(body.input, options, cancel)
    encoded = encode_stream(run, body.response_format, spk.tts.sample_rate)
    try:
        first = next(encoded, b"")
    except BaseException:
        run.close()
        raise
    return run, encoded, first


def _whole(spk: Speaker, body: SpeechRequest, cancel: threading.Event) -> tuple[str, bytes]:
    """All the audio as one file with a complete header; returns the voice's name and the bytes."""
    options = spk.options(voice=_voice_for(spk, body), language=body.language, speed=body.speed)
    run = spk.speak(body.input, options, cancel)
    try:
        return run.voice.name, encode_whole(run, body.response_format, spk.tts.sample_rate)
    finally:
        run.close()


@router.post("/v1/audio/speech", response_model=None)
async def create_speech(request: Request, body: SpeechRequest, spk: SpeakerDep, slots: SlotsDep) -> Response:
    """Audio streams sentence by sentence, except FLAC: its header must state the length, so FLAC is sent whole
    (``stream_format: "sse"`` streams any format, as base64 ``speech.audio.delta`` events)."""
    media_type = FORMATS[body.response_format].media_type
    async with AsyncExitStack() as stack:
        # Speech has its own slots: a sentence takes a fraction of a second, so it should not queue behind
        # minutes-long transcriptions, yet unbounded parallel synthesis would starve everything on a small CPU.
        await stack.enter_async_context(slots.speech.slot())
        cancel = threading.Event()
        if body.response_format in WHOLE_FORMATS and body.stream_format == "audio":
            voice, data = await run_in_threadpool(_whole, spk, body, cancel)
            return Response(data, media_type=media_type, headers={"X-Habla-Voice": voice})
        run, encoded, first = await run_in_threadpool(_start, spk, body, cancel)
        headers = {"X-Habla-Voice": run.voice.name, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        body_stream = _body(request, first, encoded, run, cancel, stack.pop_all())
    if body.stream_format == "sse":
        return event_stream(_sse_events(body_stream, len(body.input)), ping=SSE_PING_SECONDS,
                            headers={"X-Habla-Voice": headers["X-Habla-Voice"]})
    return StreamingResponse(body_stream, media_type=media_type, headers=headers)


async def _sse_events(audio: AsyncIterator[bytes], input_chars: int) -> AsyncIterator[ServerSentEvent]:
    """OpenAI's speech events. Piper has no tokens: usage counts the input's characters as input tokens."""
    async for data in audio:
        yield sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
    usage = {"input_tokens": input_chars, "output_tokens": 0, "total_tokens": input_chars}
    yield sse({"type": "speech.audio.done", "usage": usage})


async def _body(request: Request, first: bytes, encoded: Iterator[bytes], run: SpeechRun,
                cancel: threading.Event, slot: AsyncExitStack) -> AsyncIterator[bytes]:
    async with slot:  # the slot is held until the last byte
        try:
            if first:
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
        return spk.registry.default_for(spk.tts.language).name
    except HablaError:  # no voice for the configured language: the list still says what there is
        return None


@router.get("/v1/audio/voices")
async def list_voices(spk: SpeakerDep) -> dict[str, Any]:
    """Every voice this server can speak with; ``default`` marks the one OpenAI names map to."""
    voices = await run_in_threadpool(spk.voices)
    default = await run_in_threadpool(_default_voice, spk)
    return {"object": "list", "data": [_voice_json(v, v.name == default) for v in voices],
            "openai_voices": sorted(OPENAI_VOICES)}

"""POST /v1/audio/transcriptions and /v1/audio/translations, OpenAI-compatible (multipart upload, every
response_format, SSE streaming of segments as they are decoded).

The upload is copied to a temp file with a generated name (the client's filename is never a path), checked by
decoding its header (400 when it is not audio, as OpenAI answers), and transcribed in a thread behind the app's
ConcurrencyLimiter (429 when the queue is full). As OpenAI's whisper-1: ``stream`` is ignored for formats that need
the whole transcript, a prompt keeps its last 224 tokens, and timestamp granularities need ``verbose_json``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
)
from sse_starlette import ServerSentEvent
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from habla.asr.options import Task, TranscribeOptions
from habla.asr.pipeline import TranscriptionRun
from habla.asr.types import Transcript
from habla.audio.decode import check_audio
from habla.errors import AudioDecodeError, HablaError, InvalidOption
from habla.formats import render
from habla.models.access import client_model
from habla.server.auth import authenticate
from habla.server.dependencies import engines
from habla.server.errors import error_response
from habla.server.routers.diarized import diarized_json, transcribe_diarized
from habla.server.routers.openai_shapes import (event_stream, last_prompt_tokens, sse, text_encoder, token_usage, usage,
                                                verbose_json)
from habla.server.uploads import TempFiles, UploadDestination, UploadRoute, received, uploads_to

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/audio", tags=["audio"], route_class=UploadRoute)
UPLOAD_PATHS = ("/v1/audio/transcriptions", "/v1/audio/translations")  # the app limits their body size

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]
Granularity = Literal["word", "segment"]
STREAMABLE = ("json", "text")  # as OpenAI: subtitles and verbose_json need the whole transcript
TEXT_TYPES = {"text": "text/plain; charset=utf-8", "srt": "application/x-subrip; charset=utf-8",
              "vtt": "text/vtt; charset=utf-8"}
FileField = Annotated[UploadFile, File(description="Audio or video in any format FFmpeg reads.")]
ModelField = Annotated[str, Form(description="'whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe' (= the "
                                             "server's default model) or a model name from GET /v1/models.")]
PromptField = Annotated[str | None, Form(description="Text that guides spelling and style; its last 224 tokens.")]
TemperatureField = Annotated[float, Form(ge=0, le=1)]


async def _temp_files(request: Request) -> UploadDestination:
    """The decoder needs a file: the upload is written to a temp file as it arrives."""
    return TempFiles(engines(request).settings.server.max_upload_mb << 20, "raise HABLA_SERVER__MAX_UPLOAD_MB")


@router.post("/transcriptions", response_model=None)
@uploads_to(_temp_files)
async def transcriptions(
    request: Request,
    file: FileField,
    model: ModelField = "whisper-1",
    language: Annotated[str | None, Form(max_length=16, description="ISO 639-1 code; empty = detect.")] = None,
    prompt: PromptField = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: TemperatureField = 0.0,
    timestamp_granularities: Annotated[list[Granularity] | None, Form(alias="timestamp_granularities[]")] = None,
    stream: Annotated[bool, Form()] = False,
    known_speaker_names: Annotated[list[str] | None, Form(alias="known_speaker_names[]")] = None,
    known_speaker_references: Annotated[list[str] | None, Form(alias="known_speaker_references[]")] = None,
) -> Response:
    """Speech to text in the spoken language; ``diarized_json`` labels speakers (known ones by name)."""
    if timestamp_granularities and response_format != "verbose_json":
        raise _invalid("timestamp_granularities[] needs response_format 'verbose_json'", "timestamp_granularities")
    return await _handle(request, file, "transcribe", model, language, prompt, response_format, temperature,
                         set(timestamp_granularities or ()), stream,
                         (known_speaker_names or [], known_speaker_references or []))


@router.post("/translations", response_model=None)
@uploads_to(_temp_files)
async def translations(
    request: Request,
    file: FileField,
    model: ModelField = "whisper-1",
    prompt: PromptField = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: TemperatureField = 0.0,
) -> Response:
    """Speech in any language to English text."""
    return await _handle(request, file, "translate", model, None, prompt, response_format, temperature, set(), False)


async def _handle(request: Request, file: UploadFile, task: Task, model: str, language: str | None,
                  prompt: str | None, fmt: str, temperature: float, granularities: set[str],
                  stream: bool, known: tuple[list[str], list[str]] = ([], [])) -> Response:
    state = engines(request)
    if (known[0] or known[1]) and fmt != "diarized_json":
        raise InvalidOption("known_speaker_names[] and known_speaker_references[] need response_format=diarized_json")
    # names only: a client must not probe server paths
    model_name = client_model(model, state.settings.asr.model, state.settings.models)
    model_dir = state.transcriber.store.locate(model_name or state.settings.asr.model).path
    encode = text_encoder(model_dir)
    prompt = last_prompt_tokens(prompt, model_dir) if prompt else None
    options: TranscribeOptions = state.transcriber.default_options(
        language=language, task=task, temperature=temperature, initial_prompt=prompt,
        word_timestamps="word" in granularities or None)
    stream = stream and fmt in STREAMABLE  # as OpenAI: the other formats need the whole transcript
    try:
        transcript = await _transcribe(request, file, model_name, options, stream, len(encode(prompt or "")), encode,
                                       fmt, known)
    except AudioDecodeError as exc:  # the header was fine, the audio after it is not
        raise _not_audio(exc) from exc
    if isinstance(transcript, Response):
        return transcript
    state.metrics.audio_seconds.labels(task).inc(transcript.duration)
    if fmt == "verbose_json":
        return JSONResponse(verbose_json(transcript, granularities))
    return _respond(transcript, fmt)


async def _transcribe(request: Request, file: UploadFile, model_name: str | None, options: TranscribeOptions,
                      stream: bool, prompt_tokens: int, encode: Callable[[str], list[int]], fmt: str,
                      known: tuple[list[str], list[str]]) -> Transcript | Response:
    """The finished transcript, or the streaming response that will send it."""
    state = engines(request)
    async with AsyncExitStack() as stack:
        path = _spooled(file)
        stack.callback(path.unlink, missing_ok=True)
        await run_in_threadpool(_check_upload, path)  # 400 now, even when the server is busy
        await stack.enter_async_context(state.slots.transcription.slot())
        if fmt == "diarized_json":
            transcript = await transcribe_diarized(request, path, model_name, options, *known)
            state.metrics.audio_seconds.labels(options.task).inc(transcript.duration)
            return JSONResponse(diarized_json(transcript))
        cancel = threading.Event()
        run: TranscriptionRun = await run_in_threadpool(state.transcriber.stream, str(path), model_name, options,
                                                        cancel, principal=authenticate(request).id)
        stack.callback(run.close)
        if stream:
            events = _stream(request, run, cancel, stack.pop_all(), prompt_tokens, encode)
            return event_stream(events)
        result: Transcript = await run_in_threadpool(run.result)
        return result


class NotAudio(HablaError):
    """An upload that does not decode. 400, as OpenAI answers (SDKs raise BadRequestError); jobs keep 415."""

    code = "invalid_audio"
    param = "file"


def _not_audio(cause: Exception) -> NotAudio:
    """The decoder's own words (errno numbers, FFmpeg internals) go to the log, not into the answer."""
    log.info("upload is not audio: %s", cause)
    return NotAudio("the uploaded file could not be decoded as audio or video",
                    hint="send a file FFmpeg reads: flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm, ...")


def _check_upload(path: Path) -> None:
    try:
        check_audio(path)
    except AudioDecodeError as exc:
        raise _not_audio(exc) from exc


def _invalid(message: str, param: str) -> InvalidOption:
    error = InvalidOption(message)
    error.param = param  # type: ignore[attr-defined]  # errors.py puts it in the body
    return error


def _spooled(upload: UploadFile) -> Path:
    """The temp file the upload was streamed into (this request deletes it); refuse an empty one."""
    path = Path(received(upload).claim())
    if not upload.size:
        path.unlink(missing_ok=True)
        raise InvalidOption("the uploaded file is empty (0 bytes)", hint="send the audio in the 'file' field")
    return path


def _respond(transcript: Transcript, fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse({"text": transcript.text, "usage": usage(transcript.duration)})
    if fmt == "text":  # as OpenAI: the whole text on one line
        return PlainTextResponse(" ".join(transcript.text.split()) + "\n", media_type=TEXT_TYPES[fmt])
    return PlainTextResponse(render(transcript, fmt), media_type=TEXT_TYPES[fmt])


async def _stream(request: Request, run: TranscriptionRun, cancel: threading.Event, stack: AsyncExitStack,
                  prompt_tokens: int, encode: Callable[[str], list[int]]) -> AsyncIterator[ServerSentEvent]:
    """``transcript.text.delta`` per segment as decoded, then ``transcript.text.done`` with token usage; an error
    after the stream started becomes an OpenAI error event (the status is already sent)."""
    async with stack:  # holds the slot and the temp file until the last event
        parts: list[str] = []
        try:
            async for segment in iterate_in_threadpool(iter(run)):
                if await request.is_disconnected():
                    cancel.set()
                    return
                delta = segment.text if parts else segment.text.lstrip()
                parts.append(delta)
                yield sse({"type": "transcript.text.delta", "delta": delta})
        except HablaError as exc:
            error = _not_audio(exc) if isinstance(exc, AudioDecodeError) else exc
            yield sse(json.loads(bytes(error_response(error.http_status, str(error), error.code).body)))
            return
        engines(request).metrics.audio_seconds.labels(run.options.task).inc(run.position)
        text = "".join(parts).strip()
        usage_ = token_usage(run.position, prompt_tokens, len(encode(text)))
        yield sse({"type": "transcript.text.done", "text": text, "usage": usage_})

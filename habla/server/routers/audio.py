"""POST /v1/audio/transcriptions and /v1/audio/translations, OpenAI-compatible (multipart upload, every
response_format, SSE streaming of segments as they are decoded).

The upload is copied to a temp file with a generated name (the client's filename is never a path), checked by
decoding its header, and transcribed in a thread behind the app's ConcurrencyLimiter (429 when the queue is full).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from habla.asr.options import Task, TranscribeOptions
from habla.asr.pipeline import TranscriptionRun
from habla.asr.types import Transcript
from habla.audio.decode import check_audio
from habla.errors import HablaError, InvalidOption, ModelNotFound
from habla.formats import render
from habla.server.errors import error_response
from habla.server.routers.jobs import OPENAI_MODEL_ALIASES
from habla.server.routers.openai_shapes import sse, text_encoder, usage, verbose_json

router = APIRouter(prefix="/v1/audio", tags=["audio"])
UPLOAD_PATHS = ("/v1/audio/transcriptions", "/v1/audio/translations")  # the app limits their body size

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
Granularity = Literal["word", "segment"]
STREAMABLE = ("json", "text")  # as OpenAI: subtitles and verbose_json need the whole transcript
TEXT_TYPES = {"text": "text/plain; charset=utf-8", "srt": "application/x-subrip; charset=utf-8",
              "vtt": "text/vtt; charset=utf-8"}
FileField = Annotated[UploadFile, File(description="Audio or video in any format FFmpeg reads.")]
ModelField = Annotated[str, Form(description="'whisper-1' (= the server's default model) or a model name.")]
PromptField = Annotated[str | None, Form(max_length=2000, description="Text that guides spelling and style.")]
TemperatureField = Annotated[float, Form(ge=0, le=1)]


@router.post("/transcriptions", response_model=None)
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
) -> Response:
    """Speech to text in the spoken language."""
    return await _handle(request, file, "transcribe", model, language, prompt, response_format, temperature,
                         set(timestamp_granularities or ()), stream)


@router.post("/translations", response_model=None)
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
                  stream: bool) -> Response:
    state = request.app.state
    options: TranscribeOptions = state.transcriber.default_options(
        language=language, task=task, temperature=temperature, initial_prompt=prompt or None,
        word_timestamps="word" in granularities or None)
    if stream and fmt not in STREAMABLE:
        raise InvalidOption(f"stream=true works with response_format json or text, not {fmt!r}")
    model_name = _model_name(state.settings, model)
    async with AsyncExitStack() as stack:
        path = await run_in_threadpool(_spool, file)
        stack.callback(path.unlink, missing_ok=True)
        await run_in_threadpool(check_audio, path)  # 415 now, even when the server is busy
        await stack.enter_async_context(state.limiter.slot())
        cancel = threading.Event()
        run: TranscriptionRun = await run_in_threadpool(state.transcriber.stream, str(path), model_name, options,
                                                        cancel, principal=getattr(request.state, "principal", ""))
        stack.callback(run.close)
        if stream:
            events = _stream(request, run, cancel, stack.pop_all(), fmt)
            return StreamingResponse(events, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        transcript = await run_in_threadpool(run.result)
    state.metrics.audio_seconds.labels(task).inc(transcript.duration)
    if fmt == "verbose_json":
        model_dir = state.transcriber.store.locate(model_name or state.settings.asr.model).path
        return JSONResponse(verbose_json(transcript, granularities, options.temperature, text_encoder(model_dir)))
    return _respond(transcript, fmt)


def _model_name(settings: Any, requested: str) -> str | None:
    """Only catalog or registered names (or the configured model): a client must not probe server paths."""
    from habla.models.store import ModelStore

    name = requested.strip()
    if not name or name in OPENAI_MODEL_ALIASES or name == settings.asr.model:
        return None
    if "/" in name or "\\" in name or not ModelStore(settings.models).is_whisper(name):  # catalog or registered
        raise ModelNotFound(f"model {name!r} does not exist", hint="GET /v1/models lists the models served here")
    return name


def _spool(upload: UploadFile) -> Path:
    """Copy the upload to a temp file with a generated name; refuse an empty one."""
    fd, name = tempfile.mkstemp(prefix="habla-upload-", suffix=".bin")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, out, 1 << 20)
        if path.stat().st_size == 0:
            raise InvalidOption("the uploaded file is empty (0 bytes)", hint="send the audio in the 'file' field")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _respond(transcript: Transcript, fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse({"text": transcript.text, "usage": usage(transcript.duration)})
    text = render(transcript, "txt" if fmt == "text" else fmt)
    return PlainTextResponse(text, media_type=TEXT_TYPES[fmt])


async def _stream(request: Request, run: TranscriptionRun, cancel: threading.Event, stack: AsyncExitStack,
                  fmt: str) -> AsyncIterator[str]:
    """``transcript.text.delta`` per segment as decoded, then ``transcript.text.done``; an error after the stream
    started becomes an OpenAI error event (the status is already sent)."""
    async with stack:  # holds the slot and the temp file until the last event
        parts: list[str] = []
        try:
            async for segment in iterate_in_threadpool(iter(run)):
                if await request.is_disconnected():
                    cancel.set()
                    return
                delta = segment.text if parts else segment.text.lstrip()
                if fmt == "text":
                    delta = " ".join(segment.text.split()) + "\n"
                parts.append(delta)
                yield sse({"type": "transcript.text.delta", "delta": delta})
        except HablaError as exc:
            yield sse(json.loads(error_response(exc.http_status, str(exc), exc.code).body))
            return
        request.app.state.metrics.audio_seconds.labels(run.options.task).inc(run.position)
        text = "".join(parts).strip() if fmt == "json" else "".join(parts)
        yield sse({"type": "transcript.text.done", "text": text, "usage": usage(run.position)})

"""Durable transcription jobs: /v1/jobs. The JobService (``app.state.jobs``) does the work; this maps HTTP."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from habla.errors import InvalidOption
from habla.jobs.models import Job
from habla.jobs.service import JobService

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MEDIA_TYPES = {"json": "application/json", "txt": "text/plain; charset=utf-8", "srt": "application/x-subrip",
               "vtt": "text/vtt; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8",
               "rttm": "text/plain; charset=utf-8"}
SSE_POLL_SECONDS = 0.5
SSE_PING_SECONDS = 15.0
OPENAI_MODEL_ALIASES = frozenset({"whisper-1"})  # OpenAI clients send this; it means "the default model"


def _service(request: Request) -> JobService:
    return request.app.state.jobs


@router.post("", status_code=201)
def create_job(
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File(description="Audio or video file.")],
    model: Annotated[str | None, Form()] = None,
    language: Annotated[str | None, Form()] = None,
    task: Annotated[str | None, Form(description="transcribe or translate")] = None,
    prompt: Annotated[str | None, Form()] = None,
    temperature: Annotated[float | None, Form()] = None,
    word_timestamps: Annotated[bool, Form()] = False,
    timestamp_granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
    webhook_url: Annotated[str | None, Form()] = None,
    diarize: Annotated[bool, Form(description="Label speakers in every result format.")] = False,
    speakers: Annotated[int | None, Form(ge=1, le=100, description="Exact number of speakers.")] = None,
    min_speakers: Annotated[int | None, Form(ge=1, le=100)] = None,
    max_speakers: Annotated[int | None, Form(ge=1, le=100)] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    """Queue a transcription; poll it, follow its events, or wait for the webhook. Returns 200 and the earlier
    job when the Idempotency-Key was already used."""
    granularities = set(timestamp_granularities or ())
    if granularities - {"word", "segment"}:
        raise InvalidOption("timestamp_granularities[] takes 'word' and/or 'segment'")
    options = {"language": language, "task": task, "initial_prompt": prompt, "temperature": temperature,
               "word_timestamps": word_timestamps or "word" in granularities or None,
               "diarize": diarize or None, "speakers": speakers, "min_speakers": min_speakers,
               "max_speakers": max_speakers}
    job, created = _service(request).submit(
        file.file, filename=file.filename or "", model=None if model in OPENAI_MODEL_ALIASES else model,
        options=options, webhook_url=webhook_url, idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job.public()


@router.get("")
def list_jobs(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20, after: str | None = None,
              status: str | None = None) -> dict[str, Any]:
    page = _service(request).list(limit, after, status)
    data = [j.public() for j in page.jobs]
    return {"object": "list", "data": data, "has_more": page.has_more,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


@router.get("/{job_id}")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return _service(request).get(job_id).public()


@router.delete("/{job_id}")
def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    return _service(request).cancel(job_id).public()


@router.post("/{job_id}/retry")
def retry_job(request: Request, job_id: str) -> dict[str, Any]:
    return _service(request).retry(job_id).public()


@router.get("/{job_id}/result")
def job_result(request: Request, job_id: str, format: str = "json") -> Response:  # noqa: A002 - API name
    fmt = format.strip().lower()
    text = _service(request).result(job_id, fmt)
    if fmt == "json":
        return JSONResponse(json.loads(text))
    return PlainTextResponse(text, media_type=MEDIA_TYPES.get(fmt, "text/plain; charset=utf-8"),
                             headers={"Content-Disposition": f'inline; filename="{job_id}.{fmt}"'})


@router.get("/{job_id}/audio")
def job_audio(request: Request, job_id: str) -> FileResponse:
    """The uploaded audio as sent (range requests, so a player can seek), to play along the transcript."""
    path, filename = _service(request).audio(job_id)
    return FileResponse(path, media_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
                        filename=filename, content_disposition_type="inline")


@router.get("/{job_id}/events")
async def job_events(request: Request, job_id: str) -> StreamingResponse:
    """Server-sent events: ``progress`` whenever status or position changes, ``segment`` for each segment as it is
    decoded (``attempt`` says which run it belongs to: a retry starts again), then one ``done``."""
    service = _service(request)
    await run_in_threadpool(service.get, job_id)  # 404 before the stream starts
    return StreamingResponse(_events(request, service, job_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, service: JobService, job_id: str) -> AsyncIterator[str]:
    last: tuple[Any, ...] | None = None
    last_sent = time.monotonic()
    attempt, offset = 0, 0
    while not await request.is_disconnected():
        job = await run_in_threadpool(service.get, job_id)
        state = (job.status, round(job.position, 1), job.attempt)
        if job.done:
            yield _sse("done", job.public(), _progress_id(job))
            return
        if state != last:
            last, last_sent = state, time.monotonic()
            yield _sse("progress", job.public(), _progress_id(job))
        if job.status == "running":
            if job.attempt != attempt:
                attempt, offset = job.attempt, 0
            segments, offset = await run_in_threadpool(service.live_segments, job, offset)
            for segment in segments:
                last_sent = time.monotonic()
                yield _sse("segment", {"job_id": job.id, "attempt": attempt, "segment": segment},
                           f"{job.id}:{attempt}:segment:{segment['id']}")
        if time.monotonic() - last_sent > SSE_PING_SECONDS:
            last_sent = time.monotonic()
            yield ": ping\n\n"  # keeps proxies from closing an idle stream
        await asyncio.sleep(SSE_POLL_SECONDS)


def _progress_id(job: Job) -> str:
    return f"{job.id}:{job.attempt}:{round(job.position, 2)}"


def _sse(event: str, data: dict[str, Any], event_id: str) -> str:
    return f"event: {event}\nid: {event_id}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

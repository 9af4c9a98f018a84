"""Durable transcription jobs: /v1/jobs. The JobService (the engines container's ``jobs``) does the work;
this maps HTTP."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from habla.errors import InvalidOption
from habla.jobs.models import Job
from habla.jobs.service import JobService, StoredUpload
from habla.models.openai_names import is_alias
from habla.server.auth import authenticate, owner_scope
from habla.server.dependencies import engines
from habla.server.uploads import StoreUploads, UploadDestination, UploadRoute, received, uploads_to
from habla.storage import ObjectRead

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=UploadRoute)

MEDIA_TYPES = {"json": "application/json", "txt": "text/plain; charset=utf-8", "srt": "application/x-subrip",
               "vtt": "text/vtt; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8",
               "rttm": "text/plain; charset=utf-8"}
SSE_POLL_SECONDS = 0.5
SSE_PING_SECONDS = 15.0  # a comment on a quiet stream keeps proxies from closing it


def _service(request: Request) -> JobService:
    return engines(request).jobs  # routes here predate JobsDep; kept as one accessor to merge cleanly


def _owner(request: Request) -> str | None:
    """Jobs are scoped to the caller's principal (an admin key sees every job); another's job is a 404."""
    return owner_scope(request)


async def _job_uploads(request: Request) -> UploadDestination:
    """Uploads stream straight into the job store (where workers read them); a full queue is refused first."""
    service = _service(request)
    await run_in_threadpool(service.check_room)
    return StoreUploads(service.storage.objects, service.settings.jobs.max_upload_mb << 20,
                        "raise HABLA_JOBS__MAX_UPLOAD_MB")


@router.post("", status_code=201)
@uploads_to(_job_uploads)
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
    upload = received(file)
    job, created = _service(request).submit(
        StoredUpload(upload.name, upload.size or 0, bytes(upload.head)), filename=file.filename or "",
        model=None if model and is_alias(model, "transcription") else model,
        options=options, webhook_url=webhook_url, idempotency_key=idempotency_key,
        owner=authenticate(request).id)  # the creator owns it, an admin too
    if created:
        upload.claim()  # the job holds it now; otherwise the request deletes it
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job.public()


@router.get("")
def list_jobs(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20, after: str | None = None,
              status: str | None = None) -> dict[str, Any]:
    page = _service(request).list(limit, after, status, _owner(request))
    data = [j.public() for j in page.jobs]
    return {"object": "list", "data": data, "has_more": page.has_more,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


@router.get("/{job_id}")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return _service(request).get(job_id, _owner(request)).public()


@router.delete("/{job_id}")
def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    return _service(request).cancel(job_id, _owner(request)).public()


@router.post("/{job_id}/retry")
def retry_job(request: Request, job_id: str) -> dict[str, Any]:
    return _service(request).retry(job_id, _owner(request)).public()


@router.get("/{job_id}/result", response_model=None)
def job_result(request: Request, job_id: str, format: str = "json",
               redirect: Annotated[bool, Query(description="Allow a redirect to the object store.")] = True
               ) -> Response:
    fmt = format.strip().lower()
    service = _service(request)
    if redirect and service.settings.jobs.storage_redirects:
        url = service.result_url(job_id, fmt, _owner(request))
        if url:
            return RedirectResponse(url, status_code=307)
    text = service.result(job_id, fmt, _owner(request))
    if fmt == "json":
        return JSONResponse(json.loads(text))
    return PlainTextResponse(text, media_type=MEDIA_TYPES.get(fmt, "text/plain; charset=utf-8"),
                             headers={"Content-Disposition": f'inline; filename="{job_id}.{fmt}"'})


@router.get("/{job_id}/audio", response_model=None)
def job_audio(request: Request, job_id: str,
              redirect: Annotated[bool, Query(description="Allow a redirect to the object store.")] = True,
              byte_range: Annotated[str | None, Header(alias="Range")] = None) -> Response:
    """The uploaded audio as sent (range requests, so a player can seek), to play along the transcript: from
    the local folder, a presigned URL of the object store (HABLA_JOBS__STORAGE_REDIRECTS), or streamed from it."""
    service = _service(request)
    name, filename = service.audio(job_id, _owner(request))
    media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    local = service.storage.objects.local_path(name)
    if local is not None:
        return FileResponse(local, media_type=media_type, filename=filename, content_disposition_type="inline")
    url = service.presigned_url(name, filename, media_type) if redirect else None
    if url:
        return RedirectResponse(url, status_code=307)
    start, end = _parse_range(byte_range)
    return _stream(service.storage.objects.open(name, start, end), media_type, filename)


def _parse_range(header: str | None) -> tuple[int, int | None]:
    """One ``bytes=start-[end]`` range (what players send); anything else gets the whole object."""
    if not header or not header.startswith("bytes=") or "," in header:
        return 0, None
    first, _, last = header[6:].strip().partition("-")
    if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
        return 0, None
    return int(first), int(last) if last else None


def _stream(read: ObjectRead, media_type: str, filename: str) -> StreamingResponse:
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(read.end - read.start + 1),
               "Content-Disposition": f'inline; filename="{_ascii(filename)}"'}
    if read.partial:
        headers["Content-Range"] = f"bytes {read.start}-{read.end}/{read.size}"
    return StreamingResponse(read.chunks, status_code=206 if read.partial else 200, media_type=media_type,
                             headers=headers)


def _ascii(filename: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)


@router.get("/{job_id}/events")
async def job_events(request: Request, job_id: str) -> EventSourceResponse:
    """Server-sent events: ``progress`` whenever status or position changes, ``segment`` for each segment as it is
    decoded (``attempt`` says which run it belongs to: a retry starts again), then one ``done``."""
    service, owner = _service(request), _owner(request)
    await run_in_threadpool(service.get, job_id, owner)  # 404 before the stream starts (another's job too)
    return EventSourceResponse(_events(request, service, job_id), ping=SSE_PING_SECONDS)


async def _events(request: Request, service: JobService, job_id: str) -> AsyncIterator[ServerSentEvent]:
    last: tuple[Any, ...] | None = None
    attempt, offset = 0, 0
    while not await request.is_disconnected():
        job = await run_in_threadpool(service.get, job_id)
        state = (job.status, round(job.position, 1), job.attempt)
        if job.done:
            yield _sse("done", job.public(), _progress_id(job))
            return
        if state != last:
            last = state
            yield _sse("progress", job.public(), _progress_id(job))
        if job.status == "running":
            if job.attempt != attempt:
                attempt, offset = job.attempt, 0
            segments, offset = await run_in_threadpool(service.live_segments, job, offset)
            for segment in segments:
                yield _sse("segment", {"job_id": job.id, "attempt": attempt, "segment": segment},
                           f"{job.id}:{attempt}:segment:{segment['id']}")
        await asyncio.sleep(SSE_POLL_SECONDS)


def _progress_id(job: Job) -> str:
    return f"{job.id}:{job.attempt}:{round(job.position, 2)}"


def _sse(event: str, data: dict[str, Any], event_id: str) -> ServerSentEvent:
    return ServerSentEvent(json.dumps(data, ensure_ascii=False), event=event, id=event_id)

"""POST /v1/jobs/{id}/summary and /v1/jobs/{id}/ask: the transcript assistant on a finished job's transcript."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from habla.asr.types import Transcript
from habla.jobs.service import JobService
from habla.llm.assistant import Answer, Assistant
from habla.llm.service import LLMService
from habla.server.auth import owner_scope
from habla.server.dependencies import JobsDep, LLMDep, SlotsDep
from habla.server.limits import Slots
from habla.server.disconnect import cancelled_on_disconnect

router = APIRouter(prefix="/v1/jobs", tags=["assistant"])


class SummaryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    style: Literal["bullets", "paragraph", "actions", "chapters"] | None = Field(
        None, description="bullets (default), paragraph, action items, or chapters with [mm:ss] titles.")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)


def _transcript(jobs: JobService, job_id: str, owner: str | None) -> Transcript:
    """The job's JSON result through the jobs service: 404 for an unknown job (or another key's), 409 while it is
    unfinished."""
    return Transcript.from_dict(json.loads(jobs.result(job_id, "json", owner)))


def _body(answer: Answer, job_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"object": kind, "job_id": job_id, **extra, "model": answer.model, "text": answer.text,
            "citations": [c.__dict__ for c in answer.citations], "llm_calls": answer.calls}


async def _answer(request: Request, job_id: str, jobs: JobService, llm: LLMService, slots: Slots,
                  work: Callable[[Assistant, Transcript, threading.Event], Answer]) -> Answer:
    """Run ``work`` on the job's transcript in a thread, in an LLM slot (429 + Retry-After when its queue is full);
    a client that hangs up cancels it (between LLM calls and tokens), so an abandoned summary of a long transcript
    does not keep the LLM busy."""
    transcript = await run_in_threadpool(_transcript, jobs, job_id, owner_scope(request))
    async with slots.llm.slot(), cancelled_on_disconnect(request) as cancel:

        def run() -> Answer:
            with llm.assistant() as assistant:
                return work(assistant, transcript, cancel)

        return await run_in_threadpool(run)


@router.post("/{job_id}/summary")
async def summarize_job(request: Request, job_id: str, jobs: JobsDep, llm: LLMDep, slots: SlotsDep,
                        body: SummaryRequest | None = None) -> dict[str, Any]:
    """Every topic of the transcript, each line citing the [mm:ss] of a real segment (body optional)."""
    style = body.style if body else None
    answer = await _answer(request, job_id, jobs, llm, slots, lambda a, t, cancel: a.summarize(t, cancel, style=style))
    return _body(answer, job_id, "transcript.summary", style=style or llm.assistant_options().style)


@router.post("/{job_id}/ask")
async def ask_job(request: Request, job_id: str, body: AskRequest, jobs: JobsDep, llm: LLMDep,
                  slots: SlotsDep) -> dict[str, Any]:
    """An answer from the segments that match the question, citing where it is said."""
    answer = await _answer(request, job_id, jobs, llm, slots, lambda a, t, cancel: a.ask(t, body.question, cancel))
    return _body(answer, job_id, "transcript.answer", question=body.question, refused=answer.refused)

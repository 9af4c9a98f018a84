"""POST /v1/jobs/{id}/summary and /v1/jobs/{id}/ask: the transcript assistant on a finished job's transcript."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from habla.asr.types import Transcript
from habla.jobs.service import JobService
from habla.llm.assistant import Answer
from habla.llm.service import LLMService
from habla.server.dependencies import JobsDep, LLMDep, SlotsDep

router = APIRouter(prefix="/v1/jobs", tags=["assistant"])


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)


def _transcript(jobs: JobService, job_id: str) -> Transcript:
    """The job's JSON result through the jobs service: 404 for an unknown job, 409 while it is unfinished."""
    return Transcript.from_dict(json.loads(jobs.result(job_id, "json")))


def _summarize(llm: LLMService, transcript: Transcript) -> Answer:
    with llm.assistant() as assistant:
        return assistant.summarize(transcript)


def _ask(llm: LLMService, transcript: Transcript, question: str) -> Answer:
    with llm.assistant() as assistant:
        return assistant.ask(transcript, question)


def _body(answer: Answer, job_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"object": kind, "job_id": job_id, **extra, "model": answer.model, "text": answer.text,
            "citations": [c.__dict__ for c in answer.citations], "llm_calls": answer.calls}


@router.post("/{job_id}/summary")
async def summarize_job(job_id: str, jobs: JobsDep, llm: LLMDep, slots: SlotsDep) -> dict[str, Any]:
    """Bullet points of the transcript's key facts, each citing the [mm:ss] of a real segment."""
    transcript = await run_in_threadpool(_transcript, jobs, job_id)
    async with slots.llm.slot():  # 429 + Retry-After when the LLM's queue is full
        answer = await run_in_threadpool(_summarize, llm, transcript)
    return _body(answer, job_id, "transcript.summary")


@router.post("/{job_id}/ask")
async def ask_job(job_id: str, body: AskRequest, jobs: JobsDep, llm: LLMDep, slots: SlotsDep) -> dict[str, Any]:
    """An answer from the segments that match the question, citing where it is said."""
    transcript = await run_in_threadpool(_transcript, jobs, job_id)
    async with slots.llm.slot():
        answer = await run_in_threadpool(_ask, llm, transcript, body.question)
    return _body(answer, job_id, "transcript.answer", question=body.question)

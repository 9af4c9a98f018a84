"""POST /v1/jobs/{id}/summary and /v1/jobs/{id}/ask: the transcript assistant on a finished job's transcript."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from habla.asr.types import Transcript
from habla.llm.assistant import Answer
from habla.server.routers.chat import llm_service

router = APIRouter(prefix="/v1/jobs", tags=["assistant"])


class SummaryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    style: Literal["bullets", "paragraph", "actions", "chapters"] | None = Field(
        None, description="bullets (default), paragraph, action items, or chapters with [mm:ss] titles.")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)


def _transcript(request: Request, job_id: str) -> Transcript:
    """The job's JSON result through the jobs service: 404 for an unknown job, 409 while it is unfinished."""
    return Transcript.from_dict(json.loads(request.app.state.jobs.result(job_id, "json")))


def _body(answer: Answer, job_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"object": kind, "job_id": job_id, **extra, "model": answer.model, "text": answer.text,
            "citations": [c.__dict__ for c in answer.citations], "llm_calls": answer.calls}


@router.post("/{job_id}/summary")
def summarize_job(request: Request, job_id: str, body: SummaryRequest | None = None) -> dict[str, Any]:
    """Every topic of the transcript, each line citing the [mm:ss] of a real segment (body optional)."""
    transcript = _transcript(request, job_id)
    style = body.style if body else None
    with llm_service(request).assistant() as assistant:
        answer = assistant.summarize(transcript, style=style)
    return _body(answer, job_id, "transcript.summary", style=style or assistant.options.style)


@router.post("/{job_id}/ask")
def ask_job(request: Request, job_id: str, body: AskRequest) -> dict[str, Any]:
    """An answer from the segments that match the question, citing where it is said."""
    transcript = _transcript(request, job_id)
    with llm_service(request).assistant() as assistant:
        answer = assistant.ask(transcript, body.question)
    return _body(answer, job_id, "transcript.answer", question=body.question, refused=answer.refused)

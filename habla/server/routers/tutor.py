"""/v1/tutor: personas, sessions, turns (audio or text), their audio and the session report (docs/tutor.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from habla.server.auth import authenticate, owner_scope
from habla.server.dependencies import SettingsDep, SlotsDep, TutorDep, engines
from habla.server.disconnect import cancelled_on_disconnect
from habla.server.uploads import TempFiles, UploadDestination, UploadRoute, received, uploads_to
from habla.tutor.history import Session, Turn
from habla.tutor.personas import LEVELS, Persona

router = APIRouter(prefix="/v1/tutor", tags=["tutor"], route_class=UploadRoute)
PREFIX = "/v1/tutor"


class PersonaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]+$")
    name: str = Field(min_length=1, max_length=80)
    language: str = Field(min_length=2, max_length=16, description="ISO 639-1 code of the language practised.")
    level: Literal["A1", "A2", "B1", "B2", "C1", "C2"] = "A2"
    prompt: str = Field(min_length=1, max_length=2000, description="Who the tutor is (the level is added).")
    voice: str | None = Field(None, description="A habla voice; unset = the best voice for the language.")
    greeting: str = Field("", max_length=300)


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    persona: str = Field(min_length=1, max_length=40)


def _persona(p: Persona) -> dict[str, Any]:
    return {"object": "tutor.persona", **p.to_dict(), "sample_url": f"{PREFIX}/personas/{p.id}/sample"}


def _session(s: Session, turns: list[Turn] | None = None) -> dict[str, Any]:
    body = {"object": "tutor.session", "id": s.id, "persona": _persona(s.persona), "created_at": s.created_at,
            "turn_count": s.turn_count if turns is None else len(turns),
            "report_url": f"{PREFIX}/sessions/{s.id}/report"}
    if turns is not None:
        body["turns"] = [_turn(t) for t in turns]
    return body


def _turn(t: Turn) -> dict[str, Any]:
    base = f"{PREFIX}/sessions/{t.session_id}/turns/{t.number}/audio"
    return {"object": "tutor.turn", "session_id": t.session_id, "number": t.number, "created_at": t.created_at,
            "source": t.source, "user_text": t.user_text, "words": t.words,
            "corrections": [c.to_dict() for c in t.corrections], "reply_text": t.reply_text,
            "user_audio_url": f"{base}/user" if t.user_audio else None, "reply_audio_url": f"{base}/reply",
            "speech_seconds": t.speech_seconds, "timings": t.timings}


@router.get("/personas")
async def list_personas(service: TutorDep, settings: SettingsDep) -> dict[str, Any]:
    personas = await run_in_threadpool(service.personas)
    return {"object": "list", "data": [_persona(p) for p in personas], "levels": list(LEVELS),
            "pronunciation_threshold": settings.tutor.pronunciation_threshold}


@router.post("/personas", status_code=201)
async def create_persona(body: PersonaIn, service: TutorDep) -> dict[str, Any]:
    """A user-defined persona; its voice must speak its language (a sample is synthesised now)."""
    voice = body.voice or (await run_in_threadpool(service.speaker.registry.default_for, body.language)).name
    persona = Persona(**{**body.model_dump(), "voice": voice, "language": body.language.lower()})
    return _persona(await run_in_threadpool(service.create_persona, persona))


@router.get("/personas/{persona_id}/sample", response_model=None)
async def persona_sample(persona_id: str, service: TutorDep) -> FileResponse:
    """The speaker's reference audio: the persona's greeting in its voice (kept under storage's speakers/)."""
    persona = await run_in_threadpool(service.persona, persona_id)
    return FileResponse(await run_in_threadpool(service.speaker_sample, persona), media_type="audio/wav")


@router.post("/sessions", status_code=201)
async def create_session(request: Request, body: SessionIn, service: TutorDep) -> dict[str, Any]:
    session = await run_in_threadpool(service.start, body.persona, authenticate(request).id)
    return _session(session, [])


@router.get("/sessions")
async def list_sessions(request: Request, service: TutorDep,
                        limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    sessions = await run_in_threadpool(service.sessions, limit, owner_scope(request))
    return {"object": "list", "data": [_session(s) for s in sessions]}


@router.get("/sessions/{session_id}")
async def get_session(request: Request, session_id: str, service: TutorDep) -> dict[str, Any]:
    """The session with its whole history."""
    session, turns = await run_in_threadpool(service.history, session_id, owner_scope(request))
    return _session(session, turns)


async def _turn_uploads(request: Request) -> UploadDestination:
    settings = engines(request).settings
    return TempFiles(settings.tutor.max_upload_mb << 20, "raise HABLA_TUTOR__MAX_UPLOAD_MB")


@router.post("/sessions/{session_id}/turns", status_code=201)
@uploads_to(_turn_uploads)
async def create_turn(request: Request, session_id: str, service: TutorDep, slots: SlotsDep,
                      file: Annotated[UploadFile | None, File(description="The learner's audio, any format.")] = None,
                      text: Annotated[str | None, Form(max_length=4000, description="Or a typed turn.")] = None,
                      ) -> dict[str, Any]:
    """One exchange: transcript, corrections, pronunciation hints and the tutor's spoken reply."""
    owner = owner_scope(request)
    await run_in_threadpool(service.session, session_id, owner)  # another key's session: 404, no slot taken
    audio = open(received(file).name, "rb") if file is not None else None  # noqa: SIM115 - closed below
    # A turn transcribes, then asks the LLM: it takes a slot of each, always in this order (nothing else holds
    # two), so it cannot deadlock and neither kind of work is over-committed. A client that leaves stops the turn.
    try:
        async with slots.transcription.slot(), slots.llm.slot(), cancelled_on_disconnect(request) as cancel:
            turn = await run_in_threadpool(service.turn, session_id, audio, text, owner, cancel)
    finally:
        if audio is not None:
            audio.close()  # the request deletes the temp file (the store keeps its own copy)
    return _turn(turn)


@router.get("/sessions/{session_id}/turns/{number}/audio/{which}", response_model=None)
async def turn_audio(request: Request, session_id: str, number: int, which: Literal["user", "reply"],
                     service: TutorDep) -> FileResponse:
    path = await run_in_threadpool(service.audio_path, session_id, number, which, owner_scope(request))
    return FileResponse(path)


@router.get("/sessions/{session_id}/report", response_model=None)
async def report(request: Request, session_id: str, service: TutorDep,
                 format: Annotated[Literal["json", "markdown"], Query()] = "json",
                 ) -> dict[str, Any] | PlainTextResponse:
    """Mistakes, new words, turns and speaking time; ``?format=markdown`` for a printable version."""
    result = await run_in_threadpool(service.report, session_id, owner_scope(request))
    if format == "markdown":
        return PlainTextResponse(result.markdown(), media_type="text/markdown; charset=utf-8")
    return {"object": "tutor.report", **result.to_dict()}


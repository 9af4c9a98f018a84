"""Tutor sessions, turns and user-defined personas in the jobs database (SQLite, or PostgreSQL when distributed).

The tables join the jobs' SQLAlchemy metadata and live in the same database, so a backup or a migration of the
jobs store takes the tutor's history with it. A session keeps a copy of its persona: editing or deleting a
persona later does not rewrite past sessions.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from habla.errors import HablaError, InvalidOption
from habla.jobs.sql import add_missing_columns, metadata
from habla.tutor.feedback import Correction
from habla.tutor.personas import Persona

_PK = BigInteger().with_variant(Integer, "sqlite")

personas = Table(
    "habla_tutor_personas", metadata,
    Column("seq", _PK, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("data", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)
sessions = Table(
    "habla_tutor_sessions", metadata,
    Column("seq", _PK, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("persona", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("owner", String(64), index=True),  # the principal that started it (server/auth.py)
)
turns = Table(
    "habla_tutor_turns", metadata,
    Column("seq", _PK, primary_key=True, autoincrement=True),
    Column("session_id", String(40), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("source", String(8), nullable=False),  # "audio" | "text"
    Column("user_text", Text, nullable=False),
    Column("words", JSON, nullable=False),  # [{word, start, end, probability}] from the ASR; [] for text
    Column("corrections", JSON, nullable=False),
    Column("reply_text", Text, nullable=False),
    Column("user_audio", String(255)),  # storage-relative paths
    Column("transcript", String(255)),
    Column("reply_audio", String(255)),
    Column("speech_seconds", Float, nullable=False, default=0.0),
    Column("timings", JSON, nullable=False),  # seconds per stage: asr, corrections, reply, tts, total
    UniqueConstraint("session_id", "number", name="uq_tutor_turn_number"),
)


class SessionNotFound(HablaError):
    exit_code = 5
    http_status = 404
    code = "session_not_found"


class PersonaNotFound(HablaError):
    exit_code = 5
    http_status = 404
    code = "persona_not_found"


class TurnNotFound(HablaError):
    exit_code = 5
    http_status = 404
    code = "turn_not_found"


class TurnConflict(HablaError):
    http_status = 409
    code = "turn_conflict"


@dataclass(frozen=True)
class Turn:
    session_id: str
    number: int
    created_at: float
    source: str
    user_text: str
    words: list[dict[str, Any]]
    corrections: list[Correction]
    reply_text: str
    user_audio: str | None
    transcript: str | None
    reply_audio: str | None
    speech_seconds: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    id: str
    persona: Persona
    created_at: float
    turn_count: int = 0


class TutorStore:
    """Thread-safe; shares the jobs store's engine (and so its connection pool)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            metadata.create_all(conn, tables=[personas, sessions, turns], checkfirst=True)
            add_missing_columns(conn, sessions)

    # -- personas -----------------------------------------------------------------------------------------
    def add_persona(self, persona: Persona) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(personas.insert().values(id=persona.id, data=persona.to_dict(), created_at=time.time()))
        except IntegrityError:
            raise InvalidOption(f"a persona {persona.id!r} already exists", hint="choose another id") from None

    def personas(self) -> list[Persona]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(personas.c.data).order_by(personas.c.seq)).scalars().all()
        return [_persona(data) for data in rows]

    def persona(self, persona_id: str) -> Persona | None:
        with self.engine.connect() as conn:
            data = conn.execute(select(personas.c.data).where(personas.c.id == persona_id)).scalar()
        return _persona(data) if data is not None else None

    # -- sessions -----------------------------------------------------------------------------------------
    # ``owner`` scopes a read to one principal's sessions (another's is "not found"); None = every session.
    def create_session(self, persona: Persona, owner: str | None = None) -> Session:
        session = Session(f"tut_{uuid.uuid4().hex[:24]}", persona, time.time())
        with self.engine.begin() as conn:
            conn.execute(sessions.insert().values(id=session.id, persona=persona.to_dict(),
                                                  created_at=session.created_at, owner=owner))
        return session

    def session(self, session_id: str, owner: str | None = None) -> Session:
        count = select(func.count()).where(turns.c.session_id == sessions.c.id).scalar_subquery()
        mine = (sessions.c.owner == owner,) if owner is not None else ()
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions, count.label("turn_count"))
                               .where(sessions.c.id == session_id, *mine)).mappings().first()
        if row is None:
            raise SessionNotFound(f"no tutor session {session_id!r}", hint="list them with GET /v1/tutor/sessions")
        return _session(row)

    def sessions(self, limit: int = 20, owner: str | None = None) -> list[Session]:
        count = select(func.count()).where(turns.c.session_id == sessions.c.id).scalar_subquery()
        mine = (sessions.c.owner == owner,) if owner is not None else ()
        with self.engine.connect() as conn:
            rows = conn.execute(select(sessions, count.label("turn_count")).where(*mine)
                                .order_by(sessions.c.seq.desc()).limit(limit)).mappings().all()
        return [_session(r) for r in rows]

    # -- turns --------------------------------------------------------------------------------------------
    def next_number(self, session_id: str) -> int:
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(turns.c.number)).where(turns.c.session_id == session_id)).scalar()
        return (last or 0) + 1

    def add_turn(self, turn: Turn) -> None:
        """Insert; a number already taken (two turns of one session at once) is a conflict, not a duplicate."""
        values = {c.key: getattr(turn, c.key) for c in turns.c if c.key != "seq"}
        values["corrections"] = [c.to_dict() for c in turn.corrections]
        try:
            with self.engine.begin() as conn:
                conn.execute(turns.insert().values(**values))
        except IntegrityError:
            raise TurnConflict(f"turn {turn.number} of session {turn.session_id} was taken by another request",
                               hint="send one turn at a time") from None

    def turns(self, session_id: str) -> list[Turn]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(turns).where(turns.c.session_id == session_id)
                                .order_by(turns.c.number)).mappings().all()
        return [_turn(r) for r in rows]

    def turn(self, session_id: str, number: int) -> Turn:
        with self.engine.connect() as conn:
            row = conn.execute(select(turns).where(turns.c.session_id == session_id,
                                                   turns.c.number == number)).mappings().first()
        if row is None:
            raise TurnNotFound(f"session {session_id} has no turn {number}")
        return _turn(row)


def _persona(data: dict[str, Any]) -> Persona:
    return Persona(**data)


def _session(row: Any) -> Session:
    return Session(row["id"], _persona(row["persona"]), row["created_at"], row["turn_count"] or 0)


def _turn(row: Any) -> Turn:
    return Turn(session_id=row["session_id"], number=row["number"], created_at=row["created_at"],
                source=row["source"], user_text=row["user_text"], words=list(row["words"] or []),
                corrections=[Correction.from_dict(c) for c in row["corrections"] or []],
                reply_text=row["reply_text"], user_audio=row["user_audio"], transcript=row["transcript"],
                reply_audio=row["reply_audio"], speech_seconds=row["speech_seconds"] or 0.0,
                timings=dict(row["timings"] or {}))

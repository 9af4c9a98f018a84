"""The job store on SQLAlchemy: one schema for SQLite (embedded, WAL) and PostgreSQL (distributed).

Every transition is one conditional UPDATE (``WHERE status = ... AND attempt = ...``), so two workers racing
for a job, or a lost worker writing late, can never both win: the row count says who did.
"""

from __future__ import annotations

import builtins
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from habla.errors import JobConflict, JobNotFound
from habla.jobs.models import RETRYABLE, TERMINAL, Job, JobSpec
from habla.jobs.protocol import JobPage

metadata = MetaData()
jobs = Table(
    "habla_jobs", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("status", String(16), nullable=False, index=True),
    Column("spec", JSON, nullable=False),
    Column("idempotency_key", String(255), unique=True),
    Column("attempt", Integer, nullable=False, default=0),
    Column("lost", Integer, nullable=False, default=0),  # runs whose worker died; bounded by max_attempts
    Column("worker", String(255)),
    Column("lease_until", Float),
    Column("created_at", Float, nullable=False),
    Column("enqueued_at", Float),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("position", Float, nullable=False, default=0.0),
    Column("duration", Float),
    Column("error", Text),
    Column("result_dir", String(255)),
    Column("language", String(16)),
    Column("webhook_status", String(255)),
    Column("owner", String(64), index=True),  # the principal that created it (an API key's id); see server/auth.py
)

c = jobs.c
SCHEMA_LOCK_KEY = 0x6861626C61  # "habla": any fixed number shared by every habla process
_RESET_RUN: dict[str, Any] = {"worker": None, "lease_until": None, "enqueued_at": None}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; NORMAL sync survives a killed process (not power loss).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, pooled: bool = True) -> Engine:
    """``pooled=False`` holds no connection between calls: for a process that forks workers (Celery prefork)."""
    pool: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if pooled:
        pool.update(pool_size=5, max_overflow=10)
    return create_engine(url, pool_pre_ping=True, **pool)


class SqlJobStore:
    """Implements ``JobStore``. Thread-safe; share one per process."""

    def __init__(self, url: str, pooled: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url, pooled)
        self._create_schema()

    def _create_schema(self) -> None:
        """Create the table if missing. Workers starting together would race; Postgres serialises them with an
        advisory lock, SQLite with its write lock (a lost race there is retried once)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            try:
                metadata.create_all(conn, checkfirst=True)
            except OperationalError:
                if conn.dialect.name != "sqlite":
                    raise
                time.sleep(0.2)
                metadata.create_all(conn, checkfirst=True)
            add_missing_columns(conn, jobs)

    def close(self) -> None:
        self.engine.dispose()

    # -- reading ----------------------------------------------------------------------------------------
    def get(self, job_id: str, owner: str | None = None) -> Job:
        """The job; with an ``owner``, only if it is that principal's (another's is "not found", as if absent)."""
        query = select(jobs).where(c.id == job_id)
        if owner is not None:
            query = query.where(c.owner == owner)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}", hint="list jobs with GET /v1/jobs")
        return _to_job(row)

    def list(self, limit: int = 20, after: str | None = None, status: str | None = None,
             owner: str | None = None) -> JobPage:
        """Newest first; ``after`` is the last id of the previous page. With an ``owner``, only its jobs."""
        query = select(jobs).order_by(c.seq.desc()).limit(limit + 1)
        if status:
            query = query.where(c.status == status)
        mine = (c.owner == owner,) if owner is not None else ()
        query = query.where(*mine)
        with self.engine.connect() as conn:
            if after:
                seq = conn.execute(select(c.seq).where(c.id == after, *mine)).scalar()
                if seq is None:
                    raise JobNotFound(f"no job {after!r} to list after")
                query = query.where(c.seq < seq)
            rows = conn.execute(query).mappings().all()
        return JobPage([_to_job(r) for r in rows[:limit]], has_more=len(rows) > limit)

    def queued(self, enqueued_before: float | None = None) -> builtins.list[str]:
        """Ids of queued jobs, oldest first; with a time, only those not (re)sent to a worker since then."""
        query = select(c.id).where(c.status == "queued").order_by(c.seq)
        if enqueued_before is not None:
            query = query.where((c.enqueued_at.is_(None)) | (c.enqueued_at < enqueued_before))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def expired(self, finished_before: float, limit: int = 500) -> builtins.list[Job]:
        query = (select(jobs).where(c.status.in_(TERMINAL), c.finished_at < finished_before)
                 .order_by(c.seq).limit(limit))
        with self.engine.connect() as conn:
            return [_to_job(r) for r in conn.execute(query).mappings()]

    # -- client transitions -----------------------------------------------------------------------------
    def create(self, spec: JobSpec, idempotency_key: str | None = None, owner: str | None = None) -> tuple[Job, bool]:
        """Insert a queued job; with a key this owner already used, return that job instead (created = False).
        Idempotency keys are per owner: another principal's same key is a different job."""
        idempotency_key = owned_key(idempotency_key, owner)
        if idempotency_key and (existing := self.find_by_key(idempotency_key)) is not None:
            return existing, False
        job_id = f"job_{uuid.uuid4().hex}"
        values = dict(id=job_id, status="queued", spec=spec.to_dict(), idempotency_key=idempotency_key,
                      attempt=0, lost=0, created_at=time.time(), position=0.0, owner=owner)
        try:
            with self.engine.begin() as conn:
                conn.execute(jobs.insert().values(**values))
        except IntegrityError:
            # Two requests with one key raced; the first insert won and is the job for both.
            if idempotency_key and (existing := self.find_by_key(idempotency_key)) is not None:
                return existing, False
            raise
        return self.get(job_id), True

    def count(self, statuses: Iterable[str]) -> int:
        """Jobs in these states (the queue bound counts queued and running ones)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(jobs)
                                    .where(c.status.in_(list(statuses)))).scalar() or 0)

    def cancel(self, job_id: str, owner: str | None = None) -> Job:
        """Queued or running → cancelled. A running worker sees it at its next heartbeat and stops."""
        self.get(job_id, owner)
        done = self._update(c.id == job_id, c.status.in_(("queued", "running")),
                            status="cancelled", finished_at=time.time(), lease_until=None)
        job = self.get(job_id)
        if not done and job.status != "cancelled":
            raise JobConflict(f"job {job_id} is already {job.status}",
                              hint="only queued or running jobs can be cancelled")
        return job

    def retry(self, job_id: str, owner: str | None = None) -> Job:
        """Failed or cancelled → queued, keeping the upload; the attempt count goes on rising."""
        self.get(job_id, owner)
        done = self._update(c.id == job_id, c.status.in_(RETRYABLE), status="queued", error=None, started_at=None,
                            finished_at=None, position=0.0, result_dir=None, webhook_status=None, lost=0,
                            **_RESET_RUN)
        job = self.get(job_id)
        if not done:
            raise JobConflict(f"job {job_id} is {job.status}", hint="only failed or cancelled jobs can be retried")
        return job

    def delete(self, job_id: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(sql_delete(jobs).where(c.id == job_id)).rowcount == 1

    # -- worker transitions (each names its attempt) ----------------------------------------------------
    def claim(self, job_id: str, worker: str, lease_seconds: float) -> Job | None:
        """queued → running for this worker, or None when someone else has it (or it is finished)."""
        now = time.time()
        if not self._update(c.id == job_id, c.status == "queued", status="running", attempt=c.attempt + 1,
                            worker=worker, lease_until=now + lease_seconds, started_at=now, position=0.0,
                            error=None):
            return None
        return self.get(job_id)

    def heartbeat(self, job_id: str, attempt: int, lease_seconds: float) -> bool:
        """Renew the lease; False means the job is no longer this run's (cancelled or taken over)."""
        return self._mine(job_id, attempt, lease_until=time.time() + lease_seconds)

    def progress(self, job_id: str, attempt: int, position: float, duration: float | None) -> bool:
        return self._mine(job_id, attempt, position=position, duration=duration)

    def finish(self, job_id: str, attempt: int, result_dir: str, language: str, duration: float) -> bool:
        """Record the result exactly once: only the current run of a running job can finish it."""
        return self._mine(job_id, attempt, status="succeeded", result_dir=result_dir, language=language,
                          duration=duration, position=duration, finished_at=time.time(), lease_until=None)

    def fail(self, job_id: str, attempt: int, error: str) -> bool:
        return self._mine(job_id, attempt, status="failed", error=error[:2000], finished_at=time.time(),
                          lease_until=None)

    def release(self, job_id: str, attempt: int) -> bool:
        """running → queued on an orderly shutdown, so the next start runs it again."""
        return self._mine(job_id, attempt, status="queued", position=0.0, **_RESET_RUN)

    def mark_enqueued(self, job_ids: Iterable[str]) -> None:
        ids = list(job_ids)
        if ids:
            self._update(c.id.in_(ids), c.status == "queued", enqueued_at=time.time())

    def set_webhook_status(self, job_id: str, status: str) -> None:
        self._update(c.id == job_id, webhook_status=status[:255])

    def requeue_stale(self, is_dead: Callable[[str], bool], max_attempts: int) -> builtins.list[str]:
        """Running jobs whose worker died (lease expired, or a local process gone) go back to the queue.

        A job that has lost ``max_attempts`` workers fails instead: it may be what kills them.
        """
        now = time.time()
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.id, c.attempt, c.worker, c.lease_until, c.lost)
                                .where(c.status == "running")).all()
        requeued = []
        for row in rows:
            if (row.lease_until or 0.0) >= now and not is_dead(row.worker or ""):
                continue
            mine = (c.id == row.id, c.status == "running", c.attempt == row.attempt)
            if row.lost + 1 >= max_attempts:
                self._update(*mine, status="failed", finished_at=now, lease_until=None,
                             error=f"the worker running this job was lost {row.lost + 1} times")
            elif self._update(*mine, status="queued", lost=row.lost + 1, position=0.0, **_RESET_RUN):
                requeued.append(row.id)
        return requeued

    # -- helpers ----------------------------------------------------------------------------------------
    def _mine(self, job_id: str, attempt: int, **values: Any) -> bool:
        return self._update(c.id == job_id, c.status == "running", c.attempt == attempt, **values)

    def _update(self, *where: Any, **values: Any) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(update(jobs).where(*where).values(**values)).rowcount > 0

    def find_key(self, key: str | None, owner: str | None) -> Job | None:
        """The job this owner created with this idempotency key, if any."""
        scoped = owned_key(key, owner)
        return self.find_by_key(scoped) if scoped else None

    def find_by_key(self, key: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(c.idempotency_key == key)).mappings().first()
        return _to_job(row) if row is not None else None


def add_missing_columns(conn: Any, table: Table) -> None:
    """Columns added since a database was made (``owner``) are added to it: nullable, so old rows stay valid
    (an old job has no owner, and only an admin key sees it)."""
    present = {col["name"] for col in inspect(conn).get_columns(table.name)}
    for column in table.columns:
        if column.name not in present and column.nullable:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))


def owned_key(key: str | None, owner: str | None) -> str | None:
    """An idempotency key as stored: a digest of owner and key, so one owner's key never finds another's job."""
    if not key:
        return None
    return "k_" + hashlib.sha256(f"{owner or ''}\0{key}".encode()).hexdigest()


def _to_job(row: Any) -> Job:
    return Job(id=row["id"], status=row["status"], spec=JobSpec.from_dict(row["spec"]), created_at=row["created_at"],
               attempt=row["attempt"], started_at=row["started_at"], finished_at=row["finished_at"],
               position=row["position"] or 0.0, duration=row["duration"], error=row["error"], worker=row["worker"],
               lease_until=row["lease_until"], result_dir=row["result_dir"], language=row["language"],
               webhook_status=row["webhook_status"], idempotency_key=row["idempotency_key"], owner=row["owner"])

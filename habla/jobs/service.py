"""JobService: what the API talks to. Chooses embedded (SQLite + threads) or distributed (Celery) from settings."""

from __future__ import annotations

import builtins
import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy.exc import OperationalError

from habla.audio.decode import check_audio
from habla.errors import AudioDecodeError, HablaError, InvalidOption, JobConflict, QueueFull, StorageFull
from habla.jobs.maintenance import Maintenance
from habla.jobs.models import OPTION_KEYS, SPEAKER_KEYS, Job, JobSpec
from habla.jobs.protocol import JobPage, JobQueue
from habla.jobs.sql import SqlJobStore
from habla.jobs.storage import JobStorage
from habla.jobs.webhooks import check_url
from habla.models.access import client_model
from habla.storage import open_store

if TYPE_CHECKING:
    from habla.asr.transcriber import Transcriber
    from habla.config import DiarizeSettings, JobsSettings, ModelSettings, Settings

log = logging.getLogger(__name__)

# With a broker, a queued job whose message has not been picked up in this long is sent again (a duplicate
# is harmless; a message lost with a flushed or restarted Redis is not).
BROKER_RESEND_SECONDS = 900.0


def database_url(jobs: JobsSettings, home: Path) -> str:
    return jobs.database_url or f"sqlite:///{Path(home) / 'jobs' / 'jobs.db'}"


# /healthz checks the store at most this often (one HEAD request), so a probe every second costs little.
STORAGE_CHECK_SECONDS = 5.0


def job_storage(jobs: JobsSettings, home: Path, check: bool = True) -> JobStorage:
    """The configured store for job files. With ``check``, wrong credentials, a missing bucket or an
    unreachable store fail here, at start-up, with one clear error."""
    objects = open_store(jobs, home)
    if check:
        objects.check()
    return JobStorage(objects, jobs.live_flush_seconds)


@dataclass(frozen=True)
class JobServiceSettings:
    """What the job service reads: its own section; habla's data folder (the default SQLite store and files);
    the default model and the model settings (which models a job may name); the diarizer's section (jobs that ask
    for speakers)."""

    jobs: JobsSettings
    home: Path
    default_model: str
    models: ModelSettings
    diarize: DiarizeSettings

    @classmethod
    def from_settings(cls, settings: Settings) -> JobServiceSettings:
        return cls(settings.jobs, settings.home, settings.asr.model, settings.models, settings.diarize)


@dataclass(frozen=True)
class StoredUpload:
    """An upload the API already streamed into the job store (server/uploads.py): its name, size, first bytes."""

    name: str
    size: int
    head: bytes


class JobService:
    """Jobs in embedded mode run on this process's ``transcriber``; in distributed mode Celery workers run them
    (and ``transcriber`` may be None)."""

    def __init__(self, settings: JobServiceSettings, transcriber: Transcriber | None) -> None:
        self.settings = settings
        self.store = SqlJobStore(database_url(settings.jobs, settings.home))
        self.storage = job_storage(settings.jobs, settings.home)
        self._storage_health: tuple[float, dict[str, Any]] = (0.0, {})
        self.queue = self._make_queue(transcriber)
        resend = None if settings.jobs.mode == "embedded" else BROKER_RESEND_SECONDS
        self.maintenance = Maintenance(self.store, self.storage, self.queue, settings.jobs, resend_after=resend)

    @classmethod
    def from_settings(cls, settings: Settings, transcriber: Transcriber | None = None) -> JobService:
        """From the whole configuration; in embedded mode with a Transcriber of its own unless one is shared."""
        if transcriber is None and settings.jobs.mode == "embedded":
            from habla.asr.transcriber import Transcriber

            transcriber = Transcriber.from_settings(settings)
        return cls(JobServiceSettings.from_settings(settings), transcriber)

    def _make_queue(self, transcriber: Transcriber | None) -> JobQueue:
        if self.settings.jobs.mode == "distributed":
            from habla.jobs.celery_app import CeleryQueue

            return CeleryQueue(self.settings.jobs)
        from habla.jobs.local import LocalQueue
        from habla.jobs.runner import JobRunner

        if transcriber is None:
            raise ValueError("embedded jobs need a Transcriber")
        runner = JobRunner(self.store, self.storage, transcriber, self.settings.jobs, diarize=self.settings.diarize)
        return LocalQueue(runner, self.settings.jobs.workers)

    def start(self) -> None:
        self.queue.start()
        self.maintenance.start()  # re-queues jobs of dead processes and sends every queued job

    def stop(self) -> None:
        self.maintenance.stop()
        self.queue.stop()
        self.store.close()

    # -- API operations ---------------------------------------------------------------------------------
    # ``owner`` is the calling principal's id (server/auth.py): a job is visible only to its owner; None = all.
    def submit(self, audio: BinaryIO | StoredUpload, *, filename: str = "", model: str | None = None,
               options: dict[str, Any] | None = None, webhook_url: str | None = None,
               idempotency_key: str | None = None, owner: str | None = None) -> tuple[Job, bool]:
        """Save the upload and queue a job. With a key this owner already used, returns that job (created = False)."""
        options = _check_options(options or {})
        model = client_model(model, self.settings.default_model, self.settings.models)
        if webhook_url:
            check_url(webhook_url, self.settings.jobs.webhook_allow_hosts)
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
            raise InvalidOption("Idempotency-Key must be 1 to 255 characters")
        if (existing := self.store.find_key(idempotency_key, owner)) is not None:
            return existing, False
        if isinstance(audio, StoredUpload):  # streamed into the store by the API already
            upload = audio.name
        else:
            self.check_room()
            start = _position(audio)
            with _storage_errors():
                upload = self.storage.save_upload(audio, self.settings.jobs.max_upload_mb << 20)
        try:
            if isinstance(audio, StoredUpload):
                self._check_stored_audio(audio)
            else:
                self._check_audio(upload, audio, start)
            spec = JobSpec(upload=upload, filename=PurePath(filename or "").name[:255], model=model or None,
                           options=options, webhook_url=webhook_url or None)
            with _storage_errors():
                job, created = self.store.create(spec, idempotency_key, owner)
        except BaseException:
            self.storage.discard(upload)
            raise
        if created:
            self.maintenance.send([job.id])
        else:
            self.storage.discard(upload)  # lost an idempotency race: the first request's job stands
        return job, created

    def check_room(self) -> None:
        """Refuse a job beyond the pending bound before its upload is spooled."""
        pending = self.store.count(("queued", "running"))
        if pending >= self.settings.jobs.max_pending:
            raise QueueFull(f"{pending} jobs are already queued or running (the limit is "
                            f"{self.settings.jobs.max_pending})", retry_after=self.settings.jobs.retry_after_seconds,
                            hint="retry after the delay in the Retry-After header")

    def get(self, job_id: str, owner: str | None = None) -> Job:
        return self.store.get(job_id, owner)

    def list(self, limit: int = 20, after: str | None = None, status: str | None = None,
             owner: str | None = None) -> JobPage:
        if not 1 <= limit <= 100:
            raise InvalidOption("limit must be between 1 and 100")
        if status and status not in ("queued", "running", "succeeded", "failed", "cancelled"):
            raise InvalidOption(f"unknown status {status!r}")
        return self.store.list(limit, after, status, owner)

    def cancel(self, job_id: str, owner: str | None = None) -> Job:
        return self.store.cancel(job_id, owner)

    def retry(self, job_id: str, owner: str | None = None) -> Job:
        job = self.store.retry(job_id, owner)
        self.maintenance.send([job.id])
        return job

    def _check_audio(self, upload: str, audio: BinaryIO, start: int | None) -> None:
        """The upload must open as audio: read again from the request's spooled file where it can seek (an S3
        upload is not downloaded again), else from the store."""
        if start is not None:
            audio.seek(start)
            check_audio(audio)
            return
        with self.storage.audio_file(upload) as path:
            check_audio(path)

    def _check_stored_audio(self, upload: StoredUpload) -> None:
        """Check the header from the first bytes kept while streaming; only a file whose header runs past them
        (an MP4 with its index at the end) is read back from the store."""
        try:
            check_audio(io.BytesIO(upload.head))
        except AudioDecodeError:
            if upload.size <= len(upload.head):
                raise
            with self.storage.audio_file(upload.name) as path:
                check_audio(path)

    def audio(self, job_id: str, owner: str | None = None) -> tuple[str, str]:
        """The stored name of the job's uploaded audio, and the client's file name for it."""
        job = self.get(job_id, owner)
        if not self.storage.objects.exists(job.spec.upload):
            raise JobConflict("the job's audio is no longer kept", hint="retention removes it with the job")
        return job.spec.upload, PurePath(job.spec.filename or f"{job.id}.audio").name

    def presigned_url(self, name: str, filename: str | None = None, media_type: str | None = None) -> str | None:
        """A direct URL to a stored object when redirects are enabled and the store can presign; else None."""
        jobs = self.settings.jobs
        if not jobs.storage_redirects:
            return None
        return self.storage.objects.presigned_url(name, jobs.storage_presign_seconds, filename, media_type)

    def result_url(self, job_id: str, fmt: str = "json", owner: str | None = None) -> str | None:
        """A presigned URL of a succeeded job's result when redirects are on and the stored object is the answer
        as is: the JSON of a job that asked for word timings (every other answer is rendered from it by the API).
        None otherwise."""
        from habla.formats import get_writer

        job = self._succeeded(job_id, owner)
        if get_writer(fmt).extension != "json" or not job.spec.options.get("word_timestamps"):
            return None
        name = self.storage.result_object(job.result_dir or "")
        if not self.settings.jobs.storage_redirects or not self.storage.objects.exists(name):
            return None  # a result stored one object per format: read by the API
        return self.presigned_url(name, f"{job_id}.json", "application/json")

    def cached_storage_health(self) -> dict[str, Any] | None:
        """The last storage check while it is fresh (younger than STORAGE_CHECK_SECONDS), else None."""
        checked, cached = self._storage_health
        return cached if cached and time.monotonic() - checked < STORAGE_CHECK_SECONDS else None

    @property
    def storage_backend(self) -> str:
        return "s3" if self.settings.jobs.storage_url else "local"

    def storage_health(self) -> dict[str, Any]:
        """For /healthz: which store, and whether it answers (checked at most every STORAGE_CHECK_SECONDS).
        Blocks while the store answers: call it from a thread (see habla/server/probes.py)."""
        cached = self.cached_storage_health()
        if cached is not None:
            return cached
        # Public (no key needed): which kind of store and whether it works, never a path, bucket or message.
        health: dict[str, Any] = {"backend": self.storage_backend, "ok": True}
        try:
            self.storage.objects.check()
        except HablaError as exc:
            log.warning("job storage check failed: %s", exc)
            health.update(ok=False, code=exc.code)
        self._storage_health = (time.monotonic(), health)
        return health

    def live_segments(self, job: Job, offset: int = 0) -> tuple[builtins.list[dict[str, Any]], int]:
        """Segments of the job's current attempt decoded after byte ``offset`` (see JobStorage)."""
        return self.storage.read_live_segments(job.id, job.attempt, offset)

    def result(self, job_id: str, fmt: str = "json", owner: str | None = None) -> str:
        """One format of a succeeded job's result, rendered from its stored transcript with the job's options."""
        job = self._succeeded(job_id, owner)
        return self.storage.read_result(job.result_dir or "", fmt, bool(job.spec.options.get("word_timestamps")))

    def _succeeded(self, job_id: str, owner: str | None) -> Job:
        job = self.store.get(job_id, owner)
        if job.status != "succeeded" or not job.result_dir:
            raise JobConflict(f"job {job_id} is {job.status}; it has no result",
                              hint="wait until its status is 'succeeded'")
        return job


def _position(stream: BinaryIO) -> int | None:
    """Where a stream that can seek back is now (a request's spooled file); None for one that cannot."""
    try:
        return stream.tell()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


@contextmanager
def _storage_errors() -> Iterator[None]:
    """A full disk (or a database that cannot grow) becomes a clear 507; nothing half-made is kept."""
    try:
        yield
    except OSError as exc:
        full = StorageFull.from_os_error(exc)
        if full is None:
            raise
        raise full from None
    except OperationalError as exc:
        if "full" not in str(exc.orig).lower():
            raise
        raise StorageFull("the server's job database is full; the job was not accepted",
                          hint="free space on the server, then submit again") from None


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Keep the job options that were given, and check them now rather than when the job runs."""
    from habla.asr.options import TranscribeOptions

    unknown = set(options) - set(OPTION_KEYS)
    if unknown:
        raise InvalidOption(f"unknown job option(s): {', '.join(sorted(unknown))}")
    given = {k: v for k, v in options.items() if v is not None and v != ""}
    speakers = {k: given.pop(k) for k in SPEAKER_KEYS if k in given}
    checked = TranscribeOptions(**given)
    kept = {k: getattr(checked, k) for k in given}
    if speakers.get("speakers") or speakers.get("min_speakers") or speakers.get("max_speakers"):
        speakers["diarize"] = True
    if speakers.get("diarize"):
        from habla.diarize.protocol import SpeakerOptions

        counts = {k: int(v) for k, v in speakers.items() if k != "diarize"}
        SpeakerOptions(speakers=counts.get("speakers"), min_speakers=counts.get("min_speakers", 1),
                       max_speakers=counts.get("max_speakers", 100))
        kept.update({"diarize": True, **counts})
    return kept

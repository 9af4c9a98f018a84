"""JobService: what the API talks to. Chooses embedded (SQLite + threads) or distributed (Celery) from settings."""

from __future__ import annotations

import logging
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, BinaryIO

from habla.audio.decode import check_audio
from habla.errors import InvalidOption, JobConflict
from habla.jobs.maintenance import Maintenance
from habla.jobs.models import OPTION_KEYS, SPEAKER_KEYS, Job, JobSpec
from habla.jobs.protocol import JobPage, JobQueue
from habla.jobs.sql import SqlJobStore
from habla.jobs.storage import JobStorage
from habla.jobs.webhooks import check_url

if TYPE_CHECKING:
    from habla.asr.transcriber import Transcriber
    from habla.config import Settings

log = logging.getLogger(__name__)

# With a broker, a queued job whose message has not been picked up in this long is sent again (a duplicate
# is harmless; a message lost with a flushed or restarted Redis is not).
BROKER_RESEND_SECONDS = 900.0


def database_url(settings: Settings) -> str:
    return settings.jobs.database_url or f"sqlite:///{Path(settings.home) / 'jobs' / 'jobs.db'}"


def storage_root(settings: Settings) -> Path:
    return Path(settings.jobs.storage_dir or Path(settings.home) / "jobs" / "files")


class JobService:
    def __init__(self, settings: Settings, transcriber: Transcriber | None = None) -> None:
        self.settings = settings
        self.store = SqlJobStore(database_url(settings))
        self.storage = JobStorage(storage_root(settings))
        self.queue = self._make_queue(transcriber)
        resend = None if settings.jobs.mode == "embedded" else BROKER_RESEND_SECONDS
        self.maintenance = Maintenance(self.store, self.storage, self.queue, settings.jobs, resend_after=resend)

    def _make_queue(self, transcriber: Transcriber | None) -> JobQueue:
        if self.settings.jobs.mode == "distributed":
            from habla.jobs.celery_app import CeleryQueue

            return CeleryQueue(self.settings)
        from habla.jobs.local import LocalQueue
        from habla.jobs.runner import JobRunner

        if transcriber is None:
            from habla.asr.transcriber import Transcriber

            transcriber = Transcriber(self.settings)
        runner = JobRunner(self.store, self.storage, transcriber, self.settings.jobs)
        return LocalQueue(runner, self.settings.jobs.workers)

    def start(self) -> None:
        self.queue.start()
        self.maintenance.start()  # re-queues jobs of dead processes and sends every queued job

    def stop(self) -> None:
        self.maintenance.stop()
        self.queue.stop()
        self.store.close()

    # -- API operations ---------------------------------------------------------------------------------
    def submit(self, audio: BinaryIO, *, filename: str = "", model: str | None = None,
               options: dict[str, Any] | None = None, webhook_url: str | None = None,
               idempotency_key: str | None = None) -> tuple[Job, bool]:
        """Save the upload and queue a job. With a known idempotency key, returns that job (created = False)."""
        options = _check_options(options or {})
        if webhook_url:
            check_url(webhook_url)
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
            raise InvalidOption("Idempotency-Key must be 1 to 255 characters")
        if idempotency_key and (existing := self.store.find_by_key(idempotency_key)) is not None:
            return existing, False
        upload = self.storage.save_upload(audio, self.settings.jobs.max_upload_mb << 20)
        try:
            check_audio(self.storage.path(upload))
            spec = JobSpec(upload=upload, filename=PurePath(filename or "").name[:255], model=model or None,
                           options=options, webhook_url=webhook_url or None)
            job, created = self.store.create(spec, idempotency_key)
        except BaseException:
            self.storage.discard(upload)
            raise
        if created:
            self.maintenance.send([job.id])
        else:
            self.storage.discard(upload)  # lost an idempotency race: the first request's job stands
        return job, created

    def get(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def list(self, limit: int = 20, after: str | None = None, status: str | None = None) -> JobPage:
        if not 1 <= limit <= 100:
            raise InvalidOption("limit must be between 1 and 100")
        if status and status not in ("queued", "running", "succeeded", "failed", "cancelled"):
            raise InvalidOption(f"unknown status {status!r}")
        return self.store.list(limit, after, status)

    def cancel(self, job_id: str) -> Job:
        return self.store.cancel(job_id)

    def retry(self, job_id: str) -> Job:
        job = self.store.retry(job_id)
        self.maintenance.send([job.id])
        return job

    def audio(self, job_id: str) -> tuple[Path, str]:
        """The job's uploaded audio as sent, and the client's file name for it."""
        job = self.get(job_id)
        path = self.storage.path(job.spec.upload)
        if not path.is_file():
            raise JobConflict("the job's audio is no longer kept", hint="retention removes it with the job")
        return path, PurePath(job.spec.filename or f"{job.id}.audio").name

    def live_segments(self, job: Job, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Segments of the job's current attempt decoded after byte ``offset`` (see JobStorage)."""
        return self.storage.read_live_segments(job.id, job.attempt, offset)

    def result(self, job_id: str, fmt: str = "json") -> str:
        job = self.store.get(job_id)
        if job.status != "succeeded" or not job.result_dir:
            raise JobConflict(f"job {job_id} is {job.status}; it has no result",
                              hint="wait until its status is 'succeeded'")
        return self.storage.read_result(job.result_dir, fmt)


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

"""The one job body, used by the in-process pool and by Celery workers alike.

claim → transcribe (progress written at most every ``progress_seconds``; a heartbeat thread renews the lease
and turns a cancel in the store into the transcription's cancel Event) → write every format → finish, which
only the current attempt of a still-running job can do → webhook.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Literal

from habla.errors import Cancelled, HablaError, JobNotFound
from habla.jobs import webhooks
from habla.jobs.models import Job
from habla.jobs.protocol import JobStore
from habla.jobs.storage import JobStorage

if TYPE_CHECKING:
    from habla.asr.transcriber import Transcriber
    from habla.asr.types import Transcript
    from habla.config import JobsSettings

log = logging.getLogger(__name__)

Outcome = Literal["succeeded", "failed", "cancelled", "released", "skipped"]


def worker_id() -> str:
    """host:pid:start-ms: the start time tells a live process from a later one that reused its pid."""
    import psutil

    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{int(psutil.Process(pid).create_time() * 1000)}"


def is_dead_local(worker: str) -> bool:
    """True when ``worker`` ran on this host and its process is gone. Other hosts are judged by lease only."""
    import psutil

    host, _, rest = worker.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        proc = psutil.Process(int(pid_text))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return started != "" and int(proc.create_time() * 1000) != int(started)
    except psutil.NoSuchProcess:
        return True


class JobRunner:
    def __init__(self, store: JobStore, storage: JobStorage, transcriber: Transcriber, settings: JobsSettings,
                 stopping: threading.Event | None = None) -> None:
        self.store = store
        self.storage = storage
        self.transcriber = transcriber
        self.settings = settings
        self.stopping = stopping or threading.Event()  # set on shutdown: running jobs go back to the queue

    def run(self, job_id: str) -> Outcome:
        job = self.store.claim(job_id, worker_id(), self.settings.lease_seconds)
        if job is None and self._owner_died(job_id):
            job = self.store.claim(job_id, worker_id(), self.settings.lease_seconds)
        if job is None:
            return "skipped"  # finished, cancelled, or running elsewhere: a repeated delivery
        log.info("job %s: attempt %d started", job.id, job.attempt)
        cancel = threading.Event()
        beat = _Heartbeat(self.store, job, self.settings.lease_seconds, cancel, self.stopping)
        beat.start()
        try:
            outcome, transcript = self._execute(job, cancel)
        finally:
            beat.halt()
        log.info("job %s: attempt %d %s", job.id, job.attempt, outcome)
        if outcome in ("succeeded", "failed") and job.spec.webhook_url:
            self._notify(job.id, job.spec.webhook_url, transcript)
        return outcome

    def _owner_died(self, job_id: str) -> bool:
        """A redelivered job whose worker process on this host is gone can be taken over at once."""
        try:
            job = self.store.get(job_id)
        except JobNotFound:
            return False  # deleted by retention, or a message left over from another store
        if job.status != "running" or not is_dead_local(job.worker or ""):
            return False
        return job_id in self.store.requeue_stale(is_dead_local, self.settings.max_attempts)

    def _execute(self, job: Job, cancel: threading.Event) -> tuple[Outcome, Transcript | None]:
        try:
            transcript = self._transcribe(job, cancel)
        except Cancelled:
            if self.stopping.is_set() and self.store.release(job.id, job.attempt):
                return "released", None
            return "cancelled", None
        except HablaError as exc:
            return ("failed" if self.store.fail(job.id, job.attempt, str(exc)) else "cancelled"), None
        except Exception as exc:  # noqa: BLE001 - any crash of one job must not take the worker down
            log.exception("job %s failed", job.id)
            done = self.store.fail(job.id, job.attempt, f"internal error: {type(exc).__name__}: {exc}")
            return ("failed" if done else "cancelled"), None
        result_dir = self.storage.write_results(job.id, job.attempt, transcript)
        if not self.store.finish(job.id, job.attempt, result_dir, transcript.language, transcript.duration):
            self.storage.discard(result_dir)  # cancelled meanwhile, or another attempt owns the job now
            return "cancelled", None
        return "succeeded", transcript

    def _transcribe(self, job: Job, cancel: threading.Event) -> Transcript:
        options = self.transcriber.default_options(**job.spec.options)
        report = _ProgressWriter(self.store, job, self.settings.progress_seconds, cancel)
        run = self.transcriber.stream(self.storage.path(job.spec.upload), job.spec.model, options,
                                      cancel=cancel, on_progress=report, priority="job", principal=job.id)
        try:
            with self.storage.live_segments(job.id, job.attempt) as append:
                for segment in run:
                    append(segment)
            return run.result()
        except BaseException:
            self.storage.discard(f"results/{job.id}/{job.attempt}")  # the attempt's live segments; no result
            raise
        finally:
            run.close()

    def _notify(self, job_id: str, url: str, transcript: Transcript | None) -> None:
        payload = {"event": "job.completed", **self.store.get(job_id).public()}
        if transcript is not None:
            payload["text"] = transcript.text
        secret = self.settings.webhook_secret.get_secret_value() if self.settings.webhook_secret else None
        webhooks.deliver_in_background(url, payload, timeout=self.settings.webhook_timeout_seconds,
                                       retries=self.settings.webhook_retries, secret=secret,
                                       on_done=lambda status: self.store.set_webhook_status(job_id, status))


class _ProgressWriter:
    """on_progress callback: writes position at most every ``interval`` s; a refused write means cancelled."""

    def __init__(self, store: JobStore, job: Job, interval: float, cancel: threading.Event) -> None:
        self.store, self.job, self.interval, self.cancel = store, job, interval, cancel
        self._last = 0.0

    def __call__(self, position: float, total: float | None) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        try:
            if not self.store.progress(self.job.id, self.job.attempt, position, total):
                self.cancel.set()
        except Exception:  # noqa: BLE001 - a database blip must not fail the transcription
            log.warning("job %s: progress not recorded", self.job.id, exc_info=True)


class _Heartbeat(threading.Thread):
    """Renews the lease about every second and stops the run when the job is no longer this attempt's."""

    def __init__(self, store: JobStore, job: Job, lease: float, cancel: threading.Event,
                 stopping: threading.Event) -> None:
        super().__init__(name=f"habla-heartbeat-{job.id[-6:]}", daemon=True)
        self.store, self.job, self.lease, self.cancel, self.stopping = store, job, lease, cancel, stopping
        self.every = min(1.0, lease / 4)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            if self.stopping.is_set():
                self.cancel.set()
            try:
                if not self.store.heartbeat(self.job.id, self.job.attempt, self.lease):
                    self.cancel.set()
                    return
            except Exception:  # noqa: BLE001 - keep trying; if the lease lapses another worker takes over
                log.warning("job %s: heartbeat failed", self.job.id, exc_info=True)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=5)

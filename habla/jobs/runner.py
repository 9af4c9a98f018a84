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
from contextlib import ExitStack
from typing import TYPE_CHECKING, Literal

from habla.errors import Cancelled, HablaError, JobNotFound, StorageMisconfigured, StorageUnavailable
from habla.jobs import webhooks
from habla.jobs.models import SPEAKER_KEYS, Job
from habla.jobs.protocol import JobStore
from habla.jobs.storage import JobStorage, retry_store

from habla.config import DiarizeSettings

if TYPE_CHECKING:
    from habla.asr.options import TranscribeOptions
    from habla.asr.pipeline import SpeechCallback
    from habla.asr.transcriber import Transcriber
    from habla.asr.types import Transcript
    from habla.config import JobsSettings
    from habla.diarize.service import Diarizer

log = logging.getLogger(__name__)

_DIARIZER_LOCK = threading.Lock()
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
                 stopping: threading.Event | None = None, diarize: DiarizeSettings | None = None) -> None:
        self.store = store
        self.storage = storage
        self.transcriber = transcriber
        self.settings = settings
        self.diarize = diarize or DiarizeSettings()  # for jobs that ask for speakers
        self.stopping = stopping or threading.Event()  # set on shutdown: running jobs go back to the queue
        self.diarizer: Diarizer | None = None  # made on the first job that asks for speakers

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
            result_dir = retry_store(self.settings.storage_retry_seconds,
                                     lambda: self.storage.write_results(job.id, job.attempt, transcript),
                                     f"job {job.id} results")
        except (StorageUnavailable, StorageMisconfigured) as exc:
            # Never lost: the job goes back to the queue and upkeep sends it again (the store may be back).
            log.error("job %s: attempt %d handed back to the queue: %s", job.id, job.attempt, exc)
            self._discard_attempt(job)  # else the next attempt clears it
            return ("released" if self.store.release(job.id, job.attempt) else "cancelled"), None
        except Cancelled:
            if self.stopping.is_set() and self.store.release(job.id, job.attempt):
                return "released", None
            return "cancelled", None
        except HablaError as exc:
            return ("failed" if self.store.fail(job.id, job.attempt, str(exc)) else "cancelled"), None
        except Exception as exc:  # any crash of one job must not take the worker down
            log.exception("job %s failed", job.id)
            done = self.store.fail(job.id, job.attempt, f"internal error: {type(exc).__name__}: {exc}")
            return ("failed" if done else "cancelled"), None
        if not self.store.finish(job.id, job.attempt, result_dir, transcript.language, transcript.duration):
            self._discard_attempt(job)  # cancelled meanwhile, or another attempt owns the job now
            return "cancelled", None
        self.storage.finish_live(job.id, job.attempt)  # after the job is done: not part of its time
        return "succeeded", transcript

    def _transcribe(self, job: Job, cancel: threading.Event) -> Transcript:
        asr = {k: v for k, v in job.spec.options.items() if k not in SPEAKER_KEYS}
        options = self.transcriber.default_options(**asr)
        if job.spec.options.get("diarize"):
            return self._transcribe_with_speakers(job, cancel, options)
        return self._stream(job, cancel, options)

    def _stream(self, job: Job, cancel: threading.Event, options: TranscribeOptions,
                on_speech: SpeechCallback | None = None) -> Transcript:
        report = _ProgressWriter(self.store, job, self.settings.progress_seconds, cancel)
        with ExitStack() as stack:
            audio = retry_store(self.settings.storage_retry_seconds,
                                lambda: stack.enter_context(self.storage.audio_file(job.spec.upload)),
                                f"job {job.id} audio")
            extra = {"on_speech": on_speech} if on_speech is not None else {}
            run = self.transcriber.stream(audio, job.spec.model, options, cancel=cancel, on_progress=report,
                                          priority="job", principal=job.id, **extra)
            try:
                with self.storage.live_segments(job.id, job.attempt) as append:
                    for segment in run:
                        append(segment)
                return run.result()
            except BaseException:
                self._discard_attempt(job)  # the attempt's live segments
                raise
            finally:
                run.close()

    def _discard_attempt(self, job: Job) -> None:
        """Remove what an attempt stored, once no live-segment write of it can land later."""
        self.storage.settle_live(job.id, job.attempt)
        self._discard_quietly(f"results/{job.id}/{job.attempt}")

    def _discard_quietly(self, name: str) -> None:
        try:
            self.storage.discard(name)
        except HablaError as exc:  # the next attempt, or retention, removes it
            log.warning("could not remove %s: %s", name, exc)

    def _transcribe_with_speakers(self, job: Job, cancel: threading.Event, options: TranscribeOptions) -> Transcript:
        """Live segments come without speakers (they are known only at the end); the results carry them."""
        from habla.diarize.transcribe import speaker_pass

        o = job.spec.options
        diarizer = self._diarizer()
        speakers = diarizer.speaker_options(o.get("speakers"), o.get("min_speakers"), o.get("max_speakers"))
        with speaker_pass(diarizer, options, speakers) as sp:
            return sp.label(self._stream(job, cancel, sp.options, sp.on_speech))

    def _diarizer(self) -> Diarizer:
        with _DIARIZER_LOCK:
            if self.diarizer is None:
                from habla.diarize.service import Diarizer

                self.diarizer = Diarizer(self.diarize, self.transcriber.store)
            return self.diarizer

    def _notify(self, job_id: str, url: str, transcript: Transcript | None) -> None:
        payload = {"event": "job.completed", **self.store.get(job_id).public()}
        if transcript is not None:
            payload["text"] = transcript.text
        secret = self.settings.webhook_secret.get_secret_value() if self.settings.webhook_secret else None
        webhooks.deliver_in_background(url, payload, timeout=self.settings.webhook_timeout_seconds,
                                       retries=self.settings.webhook_retries, secret=secret,
                                       on_done=lambda status: self.store.set_webhook_status(job_id, status),
                                       allow=self.settings.webhook_allow_hosts,
                                       workers=self.settings.webhook_workers)


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
        except Exception:  # a database blip must not fail the transcription
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
            except Exception:  # keep trying; if the lease lapses another worker takes over
                log.warning("job %s: heartbeat failed", self.job.id, exc_info=True)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=5)

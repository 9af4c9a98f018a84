"""Background upkeep shared by the server and `habla worker`: recover jobs of lost workers, (re)send queued
jobs to the queue, and delete finished jobs past retention with their files."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from habla.jobs.protocol import JobQueue
from habla.jobs.runner import is_dead_local
from habla.jobs.sql import SqlJobStore
from habla.jobs.storage import JobStorage

if TYPE_CHECKING:
    from habla.config import JobsSettings

log = logging.getLogger(__name__)
DAY = 86_400.0


class Maintenance:
    """``resend_after``: None for an in-memory queue (all queued jobs are sent at start, then only unsent ones);
    seconds for a broker, after which a queued job's message is assumed lost and sent again."""

    def __init__(self, store: SqlJobStore, storage: JobStorage, queue: JobQueue, settings: JobsSettings,
                 resend_after: float | None = None) -> None:
        self.store, self.storage, self.queue, self.settings = store, storage, queue, settings
        self.resend_after = resend_after
        self.every = min(5.0, settings.lease_seconds / 3)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_retention = 0.0

    def start(self) -> None:
        self.recover()
        self.send(self.store.queued(None if self.resend_after is None else time.time() - self.resend_after))
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="habla-jobs-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None

    def tick(self, now: float | None = None) -> None:
        now = now or time.time()
        self.send(self.recover())
        cutoff = 0.0 if self.resend_after is None else now - self.resend_after
        self.send(self.store.queued(enqueued_before=cutoff))
        if now >= self._next_retention:
            self._next_retention = now + self.settings.sweep_seconds
            self.sweep_retention(now)

    def recover(self) -> list[str]:
        ids = self.store.requeue_stale(is_dead_local, self.settings.max_attempts)
        if ids:
            log.warning("re-queued %d job(s) of lost workers: %s", len(ids), ", ".join(ids))
        return ids

    def send(self, job_ids: list[str]) -> None:
        sent = []
        for job_id in job_ids:
            try:
                self.queue.enqueue(job_id)
                sent.append(job_id)
            except Exception:  # broker down: the job stays unsent and is tried next tick
                log.warning("could not send job %s to the queue", job_id, exc_info=True)
        try:
            self.store.mark_enqueued(sent)
        except Exception:
            log.warning("could not record %d job(s) as sent", len(sent), exc_info=True)

    def sweep_retention(self, now: float | None = None) -> int:
        """Delete finished jobs older than ``retention_days`` and their files; returns how many."""
        if self.settings.retention_days <= 0:
            return 0
        cutoff = (now or time.time()) - self.settings.retention_days * DAY
        count = 0
        for job in self.store.expired(cutoff):
            self.storage.discard_job(job.id, job.spec.upload)
            count += self.store.delete(job.id)
        if count:
            log.info("retention: deleted %d finished job(s)", count)
        return count

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception:  # e.g. the database restarting; try again next tick
                log.warning("jobs maintenance failed", exc_info=True)

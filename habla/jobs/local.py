"""Embedded mode's JobQueue: a few threads in the server process taking job ids from an in-memory queue.

The queue itself is not durable and need not be: the store is. At start every queued job is enqueued again,
and a repeated id is harmless because only one claim of a job can succeed.
"""

from __future__ import annotations

import logging
import queue
import threading

from habla.jobs.runner import JobRunner

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0  # a job whose run failed before it started (store unavailable) is offered again after this


class LocalQueue:
    def __init__(self, runner: JobRunner, workers: int = 1) -> None:
        self.runner = runner
        self.workers = workers
        self._ids: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def enqueue(self, job_id: str) -> None:
        self._ids.put(job_id)

    def start(self) -> None:
        if self._threads:
            return
        self.runner.stopping.clear()
        for i in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"habla-job-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Running jobs are interrupted and put back in the queue for the next start."""
        self.runner.stopping.set()
        for _ in self._threads:
            self._ids.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while True:
            job_id = self._ids.get()
            if job_id is None or self.runner.stopping.is_set():
                return
            try:
                self.runner.run(job_id)
            except Exception:
                # The job may still be queued (its claim failed): try it again later rather than leave it queued
                # for good (a repeat is harmless: only one claim succeeds). A running one is recovered by its lease.
                log.exception("job %s: worker error; trying it again in %.0f s", job_id, RETRY_SECONDS)
                timer = threading.Timer(RETRY_SECONDS, self.enqueue, (job_id,))
                timer.daemon = True
                timer.start()

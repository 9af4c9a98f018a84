"""Distributed mode: a Celery app whose one task runs the shared job body (``JobRunner.run``).

acks_late + prefetch 1 + reject_on_worker_lost: a message is acknowledged only after its job ran, so a worker
killed mid-job leaves it to be delivered again. The store's claim and attempt-guarded finish turn those
repeated deliveries into exactly one accepted result; the lease sweep covers a whole worker host vanishing.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

    from habla.config import JobsSettings
    from habla.jobs.runner import JobRunner

log = logging.getLogger(__name__)

TASK_NAME = "habla.jobs.run"
QUEUE = "habla-jobs"
VISIBILITY_SECONDS = 3600  # Redis re-delivers an unacknowledged message after this; the claim makes it harmless

_runner: tuple[int, JobRunner] | None = None
_runner_lock = threading.Lock()


def make_celery(jobs: JobsSettings) -> Celery:
    try:
        from celery import Celery
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        from habla.errors import HablaError

        raise HablaError("distributed jobs need Celery", hint="pip install 'habla[distributed]'") from exc
    app = Celery("habla", broker=jobs.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_SECONDS},
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
    )
    app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)(run_job)
    return app


def run_job(job_id: str) -> str:
    """The Celery task body."""
    return process_runner().run(job_id)


def process_runner() -> JobRunner:
    """One runner per process, built on first use, so each prefork child has its own store and model."""
    global _runner
    with _runner_lock:
        if _runner is None or _runner[0] != os.getpid():
            from habla.asr.transcriber import Transcriber
            from habla.config import load_settings
            from habla.jobs.runner import JobRunner
            from habla.jobs.service import database_url, job_storage
            from habla.jobs.sql import SqlJobStore

            settings = load_settings()
            store = SqlJobStore(database_url(settings.jobs, settings.home))
            # Checked by `habla worker` at start; a store down now is retried by the runner, job by job.
            storage = job_storage(settings.jobs, settings.home, check=False)
            _runner = (os.getpid(), JobRunner(store, storage, Transcriber.from_settings(settings), settings.jobs,
                                              diarize=settings.diarize))
        return _runner[1]


class CeleryQueue:
    """JobQueue that publishes a task per job id to the broker."""

    def __init__(self, jobs: JobsSettings, app: Any = None) -> None:
        self.app = app or make_celery(jobs)

    def enqueue(self, job_id: str) -> None:
        self.app.send_task(TASK_NAME, args=[job_id], queue=QUEUE)

    def start(self) -> None:
        pass  # publishing connects on demand

    def stop(self) -> None:
        self.app.close()

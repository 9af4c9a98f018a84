"""``habla worker``: a distributed job worker (Celery) for servers run with HABLA_JOBS__MODE=distributed."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import typer

from habla.errors import HablaError

if TYPE_CHECKING:
    from celery import Celery

    from habla.config import Settings
    from habla.jobs.maintenance import Maintenance


def worker(
    concurrency: int = typer.Option(1, min=1, help="Jobs this worker runs at once (one process each)."),
    pool: str = typer.Option("prefork", help="Celery pool: prefork (a process per job), solo or threads."),
    loglevel: str = typer.Option("info", help="Celery log level."),
) -> None:
    """Take transcription jobs from the broker (HABLA_JOBS__BROKER_URL) and record them in the job store
    (HABLA_JOBS__DATABASE_URL). A worker killed mid-job has its job delivered again and finished once."""
    from habla.cli.main import fail
    from habla.config import load_settings

    if pool not in ("prefork", "solo", "threads"):
        raise fail(HablaError(f"unknown pool {pool!r}", hint="prefork, solo or threads"))
    settings = load_settings()
    app, upkeep = _build(settings)
    logging.getLogger("habla").setLevel(getattr(logging, loglevel.upper(), logging.INFO))
    typer.echo(f"habla worker: broker {settings.jobs.broker_url}, job store {_safe(settings)}, "
               f"files in {upkeep.storage.objects.description}", err=True)
    upkeep.start()  # re-queues jobs of dead workers and (re)sends queued jobs the broker may have lost
    try:
        from habla.jobs.celery_app import QUEUE

        app.worker_main(["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--loglevel={loglevel}",
                         "-Q", QUEUE, f"--hostname=habla-{os.getpid()}@%h", "--without-gossip",
                         "--without-mingle"])
    finally:
        upkeep.stop()


def _build(settings: Settings) -> tuple[Celery, Maintenance]:
    from habla.jobs.celery_app import CeleryQueue, make_celery
    from habla.jobs.maintenance import Maintenance
    from habla.jobs.service import BROKER_RESEND_SECONDS, database_url, job_storage
    from habla.jobs.sql import SqlJobStore

    # wrong credentials or a missing bucket: one error now, not per job
    storage = job_storage(settings.jobs, settings.home)
    app = make_celery(settings.jobs)
    # No pooled connections in this process: prefork children are forked from it and build their own.
    store = SqlJobStore(database_url(settings.jobs, settings.home), pooled=False)
    upkeep = Maintenance(store, storage, CeleryQueue(settings.jobs, app), settings.jobs,
                         resend_after=BROKER_RESEND_SECONDS)
    return app, upkeep


def _safe(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    from habla.jobs.service import database_url

    return make_url(database_url(settings.jobs, settings.home)).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)

"""A store that fails mid-job: the runner retries with backoff, then hands the job back; never fails or loses it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from habla.errors import StorageUnavailable
from habla.jobs.models import JobSpec
from habla.jobs.runner import JobRunner
from habla.jobs.sql import SqlJobStore
from habla.jobs.storage import JobStorage
from habla.storage.local import LocalObjectStore
from tests.unit.test_jobs_runner import ScriptedTranscriber, settings


class FlakyStore(LocalObjectStore):
    """A local store whose result writes fail ``failures`` times, as a store that is away for a while."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures, self.refused = failures, 0

    def put_bytes(self, name: str, data: bytes) -> None:
        if name.endswith("/result.json") and self.refused < self.failures:
            self.refused += 1
            raise StorageUnavailable("the object store is unreachable: EndpointConnectionError")
        super().put_bytes(name, data)


@pytest.fixture()
def store(tmp_path: Path) -> Any:
    jobs = SqlJobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield jobs
    jobs.close()


def submit(store: SqlJobStore, storage: JobStorage) -> str:
    upload = storage.save_upload(io.BytesIO(b"RIFF fake audio"), max_bytes=1 << 20)
    return store.create(JobSpec(upload=upload, filename="talk.wav"))[0].id


def test_results_are_retried_with_backoff_until_the_store_is_back(store: SqlJobStore, tmp_path: Path) -> None:
    objects = FlakyStore(tmp_path / "files", failures=2)
    storage = JobStorage(objects)
    job_id = submit(store, storage)
    assert JobRunner(store, storage, ScriptedTranscriber(), settings(storage_retry_seconds=30)).run(job_id) \
        == "succeeded"
    job = store.get(job_id)
    assert objects.refused == 2 and job.status == "succeeded" and job.attempt == 1
    assert "hello world" in storage.read_result(job.result_dir or "", "txt")


def test_a_store_away_too_long_hands_the_job_back_to_the_queue(store: SqlJobStore, tmp_path: Path) -> None:
    objects = FlakyStore(tmp_path / "files", failures=10**6)
    storage = JobStorage(objects)
    job_id = submit(store, storage)
    runner = JobRunner(store, storage, ScriptedTranscriber(), settings(storage_retry_seconds=0))
    assert runner.run(job_id) == "released"
    job = store.get(job_id)
    assert job.status == "queued" and job.error is None and job_id in store.queued(enqueued_before=0)
    assert storage.objects.list(f"results/{job_id}/") == []  # nothing half-written is left as a result
    objects.failures = 0  # the store is back: the next delivery finishes it
    assert runner.run(job_id) == "succeeded" and store.get(job_id).attempt == 2


def test_an_unreadable_upload_is_retried_then_handed_back(store: SqlJobStore, tmp_path: Path) -> None:
    class NoReads(LocalObjectStore):
        def local_copy(self, name: str) -> Any:
            raise StorageUnavailable("the object store is unreachable: ReadTimeoutError")

    storage = JobStorage(NoReads(tmp_path / "files"))
    job_id = submit(store, storage)
    fake = ScriptedTranscriber()
    assert JobRunner(store, storage, fake, settings(storage_retry_seconds=0)).run(job_id) == "released"
    assert fake.calls == [] and store.get(job_id).status == "queued"

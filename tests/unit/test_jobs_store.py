"""The SQL job store and its state machine, on a real SQLite file (WAL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from habla.errors import JobConflict, JobNotFound
from habla.jobs.models import JobSpec
from habla.jobs.sql import SqlJobStore

LEASE = 30.0


@pytest.fixture()
def store(tmp_path: Path) -> SqlJobStore:
    s = SqlJobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield s
    s.close()


def spec(name: str = "a") -> JobSpec:
    return JobSpec(upload=f"uploads/{name}", filename=f"{name}.flac", options={"language": "en"})


def never_dead(_worker: str) -> bool:
    return False


def test_new_job_is_queued_with_its_spec(store: SqlJobStore) -> None:
    job, created = store.create(spec())
    assert created and job.status == "queued" and job.attempt == 0
    assert store.get(job.id).spec == spec()
    assert store.get(job.id).public()["progress"] == 0.0


def test_database_uses_wal(store: SqlJobStore) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_unknown_job_is_not_found(store: SqlJobStore) -> None:
    with pytest.raises(JobNotFound):
        store.get("job_missing")


def test_idempotency_key_returns_the_same_job(store: SqlJobStore) -> None:
    first, created = store.create(spec("a"), idempotency_key="k1")
    again, created_again = store.create(spec("b"), idempotency_key="k1")
    other, _ = store.create(spec("c"), idempotency_key="k2")
    assert created and not created_again
    assert again.id == first.id and again.spec.upload == "uploads/a"
    assert other.id != first.id


def test_list_is_newest_first_and_paginates(store: SqlJobStore) -> None:
    ids = [store.create(spec(str(i)))[0].id for i in range(5)]
    page = store.list(limit=2)
    assert [j.id for j in page.jobs] == ids[::-1][:2] and page.has_more
    page2 = store.list(limit=2, after=page.jobs[-1].id)
    assert [j.id for j in page2.jobs] == ids[::-1][2:4] and page2.has_more
    page3 = store.list(limit=2, after=page2.jobs[-1].id)
    assert [j.id for j in page3.jobs] == ids[:1] and not page3.has_more
    store.cancel(ids[0])
    assert [j.id for j in store.list(status="cancelled").jobs] == [ids[0]]


def test_only_one_of_many_racing_workers_claims_a_job(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def race(n: int) -> None:
        barrier.wait()
        if store.claim(job.id, f"w{n}", LEASE) is not None:
            wins.append(f"w{n}")

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    claimed = store.get(job.id)
    assert claimed.status == "running" and claimed.attempt == 1 and claimed.worker == wins[0]


def test_progress_and_eta_while_running(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    run = store.claim(job.id, "w", LEASE)
    assert store.progress(job.id, run.attempt, 30.0, 120.0)
    now = store.get(job.id)
    assert now.public()["progress"] == 25.0 and now.public()["position_seconds"] == 30.0
    eta = now.eta_seconds(now=now.started_at + 10)  # 30 s of audio in 10 s: 90 s left takes 30 s
    assert eta == pytest.approx(30.0)


def test_finish_is_accepted_once_and_only_from_the_current_attempt(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    run = store.claim(job.id, "w1", LEASE)
    assert not store.finish(job.id, run.attempt + 1, "results/x/9", "en", 3.0)  # a stale or future attempt
    assert store.finish(job.id, run.attempt, "results/x/1", "en", 3.0)
    assert not store.finish(job.id, run.attempt, "results/x/1", "en", 3.0)  # a repeated delivery
    assert not store.fail(job.id, run.attempt, "late failure")
    done = store.get(job.id)
    assert done.status == "succeeded" and done.result_dir == "results/x/1" and done.progress == 100.0
    assert store.claim(job.id, "w2", LEASE) is None


def test_cancel_stops_a_running_attempt(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    run = store.claim(job.id, "w", LEASE)
    assert store.cancel(job.id).status == "cancelled"
    assert not store.heartbeat(job.id, run.attempt, LEASE)  # the worker learns it must stop
    assert not store.progress(job.id, run.attempt, 1.0, 2.0)
    assert not store.finish(job.id, run.attempt, "results/x/1", "en", 2.0)
    assert store.cancel(job.id).status == "cancelled"  # cancelling twice is fine


def test_finished_jobs_cannot_be_cancelled(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    run = store.claim(job.id, "w", LEASE)
    store.finish(job.id, run.attempt, "results/x/1", "en", 2.0)
    with pytest.raises(JobConflict):
        store.cancel(job.id)


def test_retry_runs_failed_and_cancelled_jobs_again(store: SqlJobStore) -> None:
    failed, _ = store.create(spec("f"))
    run = store.claim(failed.id, "w", LEASE)
    assert store.fail(failed.id, run.attempt, "boom")
    assert store.get(failed.id).error == "boom"
    again = store.retry(failed.id)
    assert again.status == "queued" and again.error is None and again.attempt == 1
    assert store.claim(failed.id, "w", LEASE).attempt == 2  # attempts keep rising: old runs stay fenced off

    cancelled, _ = store.create(spec("c"))
    store.cancel(cancelled.id)
    assert store.retry(cancelled.id).status == "queued"
    with pytest.raises(JobConflict):
        store.retry(cancelled.id)  # queued already


def test_expired_lease_is_requeued_and_old_attempt_fenced_off(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    run = store.claim(job.id, "w1", lease_seconds=0.05)
    time.sleep(0.1)
    assert store.requeue_stale(never_dead, max_attempts=3) == [job.id]
    requeued = store.get(job.id)
    assert requeued.status == "queued" and requeued.worker is None
    second = store.claim(job.id, "w2", LEASE)
    assert second.attempt == run.attempt + 1
    assert not store.progress(job.id, run.attempt, 5.0, 10.0)  # the lost worker's late writes are ignored
    assert not store.finish(job.id, run.attempt, "results/x/1", "en", 10.0)
    assert store.finish(job.id, second.attempt, "results/x/2", "en", 10.0)


def test_live_lease_is_left_alone_unless_its_process_died(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    store.claim(job.id, "host:1:1", LEASE)
    assert store.requeue_stale(never_dead, max_attempts=3) == []
    assert store.requeue_stale(lambda w: w == "host:1:1", max_attempts=3) == [job.id]


def test_job_that_keeps_losing_workers_fails(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    for _ in range(2):
        store.claim(job.id, "w", LEASE)
        assert store.requeue_stale(lambda w: True, max_attempts=3) == [job.id]
    store.claim(job.id, "w", LEASE)
    assert store.requeue_stale(lambda w: True, max_attempts=3) == []
    failed = store.get(job.id)
    assert failed.status == "failed" and "lost 3 times" in failed.error


def test_release_puts_a_running_job_back_in_the_queue(store: SqlJobStore) -> None:
    job, _ = store.create(spec())
    run = store.claim(job.id, "w", LEASE)
    assert store.release(job.id, run.attempt)
    assert store.get(job.id).status == "queued"


def test_queued_lists_unsent_jobs_and_those_sent_long_ago(store: SqlJobStore) -> None:
    a, _ = store.create(spec("a"))
    b, _ = store.create(spec("b"))
    store.mark_enqueued([a.id])
    assert store.queued(enqueued_before=0.0) == [b.id]
    assert store.queued(enqueued_before=time.time() + 1) == [a.id, b.id]
    assert store.queued() == [a.id, b.id]


def test_expired_lists_only_finished_jobs_past_the_cutoff(store: SqlJobStore) -> None:
    done, _ = store.create(spec("d"))
    store.cancel(done.id)
    store.create(spec("q"))
    assert [j.id for j in store.expired(time.time() + 1)] == [done.id]
    assert store.expired(time.time() - 60) == []
    assert store.delete(done.id)
    with pytest.raises(JobNotFound):
        store.get(done.id)


def test_jobs_are_scoped_to_their_owner(store: SqlJobStore) -> None:
    mine, _ = store.create(spec("m"), owner="key_a")
    theirs, _ = store.create(spec("t"), owner="key_b")
    assert store.get(mine.id, "key_a").owner == "key_a"
    for call in (lambda: store.get(mine.id, "key_b"), lambda: store.cancel(mine.id, "key_b"),
                 lambda: store.list(after=mine.id, owner="key_b")):
        with pytest.raises(JobNotFound):
            call()
    assert [j.id for j in store.list(owner="key_b").jobs] == [theirs.id]
    assert {j.id for j in store.list().jobs} == {mine.id, theirs.id}  # no owner: everything (admins, workers)
    assert store.get(mine.id).status == "queued"  # the refused cancel changed nothing


def test_an_idempotency_key_is_per_owner(store: SqlJobStore) -> None:
    first, created = store.create(spec("a"), idempotency_key="same", owner="key_a")
    again, created_again = store.create(spec("b"), idempotency_key="same", owner="key_a")
    other, created_other = store.create(spec("c"), idempotency_key="same", owner="key_b")
    assert (created, created_again, created_other) == (True, False, True)
    assert again.id == first.id != other.id
    assert store.find_key("same", "key_b").id == other.id


def test_an_old_database_gets_the_owner_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the table as it was before owners existed, with one job in it
        conn.execute("CREATE TABLE habla_jobs (seq INTEGER PRIMARY KEY, id VARCHAR(40) NOT NULL UNIQUE, "
                     "status VARCHAR(16) NOT NULL, spec JSON NOT NULL, idempotency_key VARCHAR(255) UNIQUE, "
                     "attempt INTEGER NOT NULL, lost INTEGER NOT NULL, worker VARCHAR(255), lease_until FLOAT, "
                     "created_at FLOAT NOT NULL, enqueued_at FLOAT, started_at FLOAT, finished_at FLOAT, "
                     "position FLOAT NOT NULL, duration FLOAT, error TEXT, result_dir VARCHAR(255), "
                     "language VARCHAR(16), webhook_status VARCHAR(255))")
        conn.execute("INSERT INTO habla_jobs (id, status, spec, attempt, lost, created_at, position) "
                     "VALUES ('job_old', 'succeeded', '{\"upload\": \"uploads/x\"}', 1, 0, 1.0, 0.0)")
    old = SqlJobStore(f"sqlite:///{path}")
    try:
        assert old.get("job_old").owner is None  # only an admin (no owner filter) sees a job from before
        with pytest.raises(JobNotFound):
            old.get("job_old", "key_a")
        assert old.create(spec(), owner="key_a")[0].owner == "key_a"
    finally:
        old.close()

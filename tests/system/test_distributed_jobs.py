"""Distributed jobs on real services: redis-server + PostgreSQL from scripts/services.sh, two `habla worker`
processes, one killed with SIGKILL mid-job; every job must still complete, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import WebhookReceiver, write_long_wav

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
HABLA = str(Path(sys.executable).with_name("habla"))
SHORT_CLIPS = {"ast-en-conf-hasjoin": "conference", "ast-en-dir-welcome": "directory",
               "ast-en-conf-adminmenu": "unlock the conference"}


def services_env() -> dict[str, str]:
    run = subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "start"], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return dict(line.split("=", 1) for line in run.stdout.splitlines() if line.startswith("HABLA_"))


@pytest.fixture()
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Env for one isolated run: its own Postgres schema, Redis database and storage folder."""
    import psycopg
    import redis

    env = services_env()
    schema = f"test_{uuid.uuid4().hex[:10]}"
    pg_url = env["HABLA_JOBS__DATABASE_URL"]
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    broker = env["HABLA_JOBS__BROKER_URL"].rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(broker).flushdb()
    settings = {"HABLA_HOME": str(tmp_path / "home"), "HABLA_JOBS__MODE": "distributed",
                "HABLA_JOBS__BROKER_URL": broker,
                "HABLA_JOBS__DATABASE_URL": f"{pg_url}?options=-csearch_path%3D{schema}",
                "HABLA_JOBS__STORAGE_DIR": str(tmp_path / "files"), "HABLA_JOBS__LEASE_SECONDS": "6",
                "HABLA_JOBS__WEBHOOK_ALLOW_HOSTS": '["127.0.0.1"]'}  # the receivers are local
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    procs: list[subprocess.Popen] = []
    yield settings, procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def start_worker(tmp_path: Path, name: str, procs: list[subprocess.Popen]) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen([HABLA, "worker", "--concurrency", "1"], stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy())
    procs.append(proc)
    return proc, log


def wait_for(check, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_killed_worker_job_completes_exactly_once(cluster, tmp_path: Path) -> None:
    from habla.config import load_settings
    from habla.jobs.service import JobService

    _, procs = cluster
    workers = [start_worker(tmp_path, f"worker{i}", procs) for i in range(2)]
    for proc, log in workers:
        wait_for(lambda: b" ready." in log.read_bytes() or proc.poll() is not None, 60, "worker start")
        assert proc.poll() is None, log.read_text()

    hooks = WebhookReceiver()
    service = JobService.from_settings(load_settings())
    service.start()
    try:
        long_wav = write_long_wav(tmp_path / "long.wav", 240)
        long_job, _ = service.submit(open(long_wav, "rb"), filename="long.wav", options={"language": "en"},
                                     webhook_url=hooks.url)
        short = {service.submit(open(SPEECH / f"{clip}.flac", "rb"), options={"language": "en"},
                                webhook_url=hooks.url)[0].id: phrase for clip, phrase in SHORT_CLIPS.items()}

        running = wait_for(lambda: (j := service.get(long_job.id)).status == "running" and j.position > 0 and j,
                           120, "the long job to make progress")
        child_pid = int(running.worker.split(":")[1])
        victim = next(p for p, _ in workers if os.getpgid(child_pid) == p.pid)
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool process, mid-job
        victim.wait()

        ids = [long_job.id, *short]
        wait_for(lambda: all(service.get(i).done for i in ids), 300, "every job to finish", every=0.5)
        wait_for(lambda: all(hooks.calls(i) for i in ids), 30, "every webhook")
        time.sleep(2)  # time for a duplicate webhook, had there been one

        final = service.get(long_job.id)
        assert final.status == "succeeded" and final.attempt == 2, final
        assert {i: service.get(i).status for i in ids} == {i: "succeeded" for i in ids}
        assert {i: hooks.calls(i) for i in ids} == {i: 1 for i in ids}  # completed exactly once
        results = Path(tmp_path / "files" / "results" / long_job.id)
        assert [p.name for p in results.iterdir()] == ["2"]  # the killed attempt wrote nothing
        assert "unlock the conference" in service.result(long_job.id, "txt").lower()
        assert service.get(long_job.id).duration == pytest.approx(240, abs=0.5)
        for job_id, phrase in short.items():
            assert phrase in service.result(job_id, "txt").lower()
    finally:
        service.stop()
        hooks.close()


def test_killed_pool_process_has_its_job_redelivered(cluster, tmp_path: Path) -> None:
    """Only the pool process dies: Celery rejects the message (reject_on_worker_lost) and delivers it again."""
    from habla.config import load_settings
    from habla.jobs.service import JobService

    _, procs = cluster
    proc, log = start_worker(tmp_path, "worker", procs)
    wait_for(lambda: b" ready." in log.read_bytes() or proc.poll() is not None, 60, "worker start")
    hooks = WebhookReceiver()
    service = JobService.from_settings(load_settings())
    service.start()
    try:
        wav = write_long_wav(tmp_path / "long.wav", 120)
        job, _ = service.submit(open(wav, "rb"), options={"language": "en"}, webhook_url=hooks.url)
        running = wait_for(lambda: (j := service.get(job.id)).status == "running" and j.position > 0 and j,
                           120, "the job to make progress")
        child_pid = int(running.worker.split(":")[1])
        assert child_pid != proc.pid
        os.kill(child_pid, signal.SIGKILL)
        wait_for(lambda: service.get(job.id).done, 240, "the job to finish", every=0.5)
        wait_for(lambda: hooks.calls(job.id), 30, "the webhook")
        time.sleep(2)
        final = service.get(job.id)
        assert (final.status, final.attempt, hooks.calls(job.id)) == ("succeeded", 2, 1), final
        assert proc.poll() is None  # the worker itself lived on and replaced its pool process
        assert b"WorkerLostError" in log.read_bytes()
    finally:
        service.stop()
        hooks.close()


def test_postgres_store_lets_one_of_many_claimers_win(cluster) -> None:
    from habla.config import load_settings
    from habla.jobs.models import JobSpec
    from habla.jobs.service import database_url
    from habla.jobs.sql import SqlJobStore

    store = SqlJobStore(database_url(load_settings().jobs, load_settings().home))
    job, _ = store.create(JobSpec(upload="uploads/x"), idempotency_key="k")
    assert store.create(JobSpec(upload="uploads/y"), idempotency_key="k")[0].id == job.id
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def claim(n: int) -> None:
        barrier.wait()
        if store.claim(job.id, f"w{n}", 30):
            wins.append(n)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.finish(job.id, 1, "results/x/1", "en", 1.0)
    assert not store.finish(job.id, 1, "results/x/1", "en", 1.0)
    store.close()

"""API + two workers with no shared disk: each has its own HABLA_HOME, and uploads and results live only in an
S3-compatible server (moto_server), next to redis-server and PostgreSQL from scripts/services.sh."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HablaServer, write_long_wav
from tests.s3server import MotoS3
from tests.system.test_distributed_jobs import HABLA, SHORT_CLIPS, SPEECH, cluster, wait_for  # noqa: F401

pytestmark = pytest.mark.system
BUCKET = "habla-system"
FORMATS = ("json", "txt", "srt", "vtt", "tsv")


@pytest.fixture()
def s3_cluster(cluster: Any, tmp_path: Path,  # noqa: F811 - the fixture imported above
               monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MotoS3, list]]:
    """The cluster's Postgres schema and Redis database, files in S3 instead of a folder."""
    _, procs = cluster
    with MotoS3(tmp_path / "moto.log") as moto:
        moto.bucket(BUCKET)
        monkeypatch.delenv("HABLA_JOBS__STORAGE_DIR")
        for key, value in {**moto.settings_env(BUCKET, "cluster"), "HABLA_JOBS__STORAGE_RETRY_SECONDS": "120",
                           "HABLA_JOBS__STORAGE_TIMEOUT_SECONDS": "2"}.items():
            monkeypatch.setenv(key, value)
        yield moto, procs


def start_worker(tmp_path: Path, name: str, procs: list[subprocess.Popen]) -> tuple[subprocess.Popen, Path]:
    home = tmp_path / name  # its own folder: nothing shared with the API or the other worker
    home.mkdir()
    log = home / "worker.log"
    proc = subprocess.Popen([HABLA, "worker", "--concurrency", "1"], stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "HABLA_HOME": str(home)})
    procs.append(proc)
    wait_for(lambda: b" ready." in log.read_bytes() or proc.poll() is not None, 90, f"{name} to start")
    assert proc.poll() is None, log.read_text()
    return proc, log


def api(tmp_path: Path) -> HablaServer:
    server = HablaServer(tmp_path / "api")
    (tmp_path / "api").mkdir()
    server.env.pop("HABLA_JOBS__STORAGE_DIR")
    return server.start()


def submit(server: HablaServer, path: Path) -> str:
    with open(path, "rb") as f:
        created = server.http.post("/v1/jobs", files={"file": (path.name, f)}, data={"language": "en"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def job(server: HablaServer, job_id: str) -> dict[str, Any]:
    return dict(server.http.get(f"/v1/jobs/{job_id}").json())


def local_files(tmp_path: Path) -> list[Path]:
    """Audio or results anywhere on the local disk of the API and the workers (models are elsewhere)."""
    return [p for p in tmp_path.rglob("*") if p.is_file() and (p.suffix in (".flac", ".srt", ".vtt", ".tsv")
                                                               or "uploads" in p.parts or "results" in p.parts)]


def test_no_shared_disk_killed_worker_every_format_and_retention(s3_cluster: Any, tmp_path: Path) -> None:
    from habla.config import load_settings
    from habla.jobs.service import JobService, database_url
    from habla.jobs.sql import SqlJobStore

    moto, procs = s3_cluster
    workers = [start_worker(tmp_path, f"worker{i}", procs) for i in range(2)]
    with api(tmp_path) as server:
        long_wav = write_long_wav(tmp_path / "long.wav", 150)
        long_id = submit(server, long_wav)
        short = {submit(server, SPEECH / f"{clip}.flac"): phrase for clip, phrase in SHORT_CLIPS.items()}
        wait_for(lambda: (j := job(server, long_id))["status"] == "running" and j["position_seconds"] > 0,
                 180, "the long job to make progress")
        store = SqlJobStore(database_url(load_settings().jobs, load_settings().home))
        child_pid = int((store.get(long_id).worker or "").split(":")[1])
        store.close()
        victim = next(p for p, _ in workers if os.getpgid(child_pid) == p.pid)
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool process, mid-job
        victim.wait()

        ids = [long_id, *short]
        wait_for(lambda: all(job(server, i)["status"] in ("succeeded", "failed") for i in ids), 420,
                 "every job to finish", every=1)
        assert {i: job(server, i)["status"] for i in ids} == {i: "succeeded" for i in ids}
        assert job(server, long_id)["attempt"] == 2  # exactly once more, after the kill
        keys = moto.keys(BUCKET, f"cluster/results/{long_id}/")
        assert keys and all(k.startswith(f"cluster/results/{long_id}/2/") for k in keys), keys
        for job_id, phrase in short.items():
            results = {fmt: server.http.get(f"/v1/jobs/{job_id}/result", params={"format": fmt}) for fmt in FORMATS}
            assert all(r.status_code == 200 for r in results.values())
            assert phrase in results["txt"].text.lower() and results["vtt"].text.startswith("WEBVTT")
            assert "-->" in results["srt"].text and results["json"].json()["segments"]
        assert "unlock the conference" in server.http.get(f"/v1/jobs/{long_id}/result?format=txt").text.lower()
        assert local_files(tmp_path / "api") == [] and local_files(tmp_path / "worker0") == []
        assert local_files(tmp_path / "worker1") == []

        service = JobService.from_settings(load_settings())  # its upkeep, as the API's runs it every sweep_seconds
        try:
            assert service.maintenance.sweep_retention(now=time.time() + 30 * 86_400) == len(ids)
        finally:
            service.store.close()
        assert moto.keys(BUCKET) == []  # every upload and result object is gone with its job
        assert server.http.get(f"/v1/jobs/{long_id}").status_code == 404


def test_a_store_stopped_mid_job_finishes_the_job_once_it_is_back(s3_cluster: Any, tmp_path: Path) -> None:
    moto, procs = s3_cluster
    _, log = start_worker(tmp_path, "worker", procs)
    with api(tmp_path) as server:
        job_id = submit(server, write_long_wav(tmp_path / "long.wav", 60))
        wait_for(lambda: job(server, job_id)["position_seconds"] > 0, 180, "the job to make progress")
        moto.pause()  # the store stops answering while the job runs (its audio is already on the worker)
        try:
            wait_for(lambda: f"(job {job_id} results), try 2".encode() in log.read_bytes(), 240,
                     "the worker to retry writing the results")
            assert job(server, job_id)["status"] == "running"  # waiting with backoff, not failed
        finally:
            moto.resume()
        done = wait_for(lambda: (j := job(server, job_id))["status"] in ("succeeded", "failed") and j, 180,
                        "the job to finish")
        assert done["status"] == "succeeded" and done["attempt"] == 1, done
        assert "unlock the conference" in server.http.get(f"/v1/jobs/{job_id}/result?format=txt").text.lower()

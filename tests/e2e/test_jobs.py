"""Durable jobs through a live `habla serve` (embedded mode: SQLite + in-process worker, real base model)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HablaServer, WebhookReceiver, wait_for, write_long_wav

ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
CLIP = SPEECH / "ast-en-conf-adminmenu.flac"  # 19 s: "Please press 1 to mute or unmute yourself, 2 to lock ..."
SHORT = SPEECH / "ast-en-dir-welcome.flac"  # 2 s: "Welcome to the directory"


class Server(HablaServer):
    """The job API on a live server."""

    def submit(self, path: Path, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
        with open(path, "rb") as f:
            return self.http.post("/v1/jobs", files={"file": (path.name, f)}, data=fields, headers=headers or {})

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_status(self, job_id: str, statuses: set[str], timeout: float = 180) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(job_id))["status"] in statuses and j, timeout,
                        f"job {job_id} to reach {statuses}")

    def wait_progress(self, job_id: str) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(job_id))["status"] == "running" and j["position_seconds"] > 0 and j,
                        120, f"job {job_id} to make progress", every=0.1)



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The webhook receivers here are on 127.0.0.1, which webhooks may reach only when the operator allows it.
    env = {"HABLA_JOBS__WEBHOOK_ALLOW_HOSTS": '["127.0.0.1"]'}
    with Server(tmp_path_factory.mktemp("jobs-server"), env).start() as srv:
        yield srv


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_long_wav(tmp_path_factory.mktemp("audio") / "long.wav", 600)


def test_job_lifecycle_gives_every_format(server: Server) -> None:
    created = server.submit(CLIP, language="en")
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] in ("queued", "running") and created.headers["location"] == f"/v1/jobs/{job['id']}"
    done = server.wait_status(job["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["progress"] == 100.0 and done["duration_seconds"] == pytest.approx(19.2, abs=0.3)
    assert done["language"] == "en" and done["eta_seconds"] is None

    def result(fmt: str) -> httpx.Response:
        return server.http.get(f"/v1/jobs/{job['id']}/result", params={"format": fmt})

    assert "unlock the conference" in result("txt").text.lower()
    assert result("json").json()["text"].lower().startswith("please press 1")
    srt = result("srt")
    assert srt.headers["content-type"].startswith("application/x-subrip") and "00:00:0" in srt.text
    assert result("vtt").text.startswith("WEBVTT")
    assert result("tsv").text.splitlines()[0] == "start\tend\ttext"
    assert result("docx").status_code == 400
    listed = server.http.get("/v1/jobs", params={"limit": 100}).json()
    assert job["id"] in [j["id"] for j in listed["data"]]


def test_upload_is_stored_under_a_generated_name(server: Server, tmp_path: Path) -> None:
    evil = tmp_path / "evil.flac"
    evil.write_bytes(SHORT.read_bytes())
    with open(evil, "rb") as f:
        job = server.http.post("/v1/jobs", files={"file": ("../../escape.flac", f)}).json()
    assert server.wait_status(job["id"], {"succeeded"})["filename"] == "escape.flac"
    stored = [p.name for p in (server.home / "files").rglob("*")]
    assert "escape.flac" not in stored and not (server.home / "escape.flac").exists()


def test_idempotency_key_returns_the_same_job(server: Server) -> None:
    key = {"Idempotency-Key": f"test-{time.time()}"}
    first = server.submit(SHORT, headers=key)
    again = server.submit(SHORT, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other = server.submit(SHORT)
    assert other.json()["id"] != first.json()["id"]
    server.wait_status(other.json()["id"], {"succeeded"})


def test_bad_requests_get_clear_errors(server: Server, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not audio")
    assert server.submit(junk).status_code == 415
    assert server.submit(SHORT, language="klingon").status_code == 400
    assert server.submit(SHORT, webhook_url="file:///etc/passwd").status_code == 400
    missing = server.http.get("/v1/jobs/job_does_not_exist")
    assert missing.status_code == 404 and "error" in missing.json()


def test_webhook_is_called_on_completion(server: Server) -> None:
    hook = WebhookReceiver()
    try:
        job = server.submit(SHORT, webhook_url=hook.url).json()
        body = wait_for(lambda: hook.bodies and hook.bodies[0], 120, "the webhook")
        assert body["id"] == job["id"] and body["status"] == "succeeded"
        assert "welcome to the directory" in body["text"].lower()
        assert wait_for(lambda: (server.job(job["id"])["webhook_status"] or "").startswith("delivered"), 10,
                        "the webhook status")
        assert len(hook.bodies) == 1
    finally:
        hook.close()


def test_events_stream_progress_until_done(server: Server, tmp_path: Path) -> None:
    wav = write_long_wav(tmp_path / "minute.wav", 60)
    job = server.submit(wav, language="en").json()
    events: list[tuple[str, dict[str, Any]]] = []
    with server.http.stream("GET", f"/v1/jobs/{job['id']}/events", timeout=180) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    assert events[-1][0] == "done" and events[-1][1]["status"] == "succeeded"
    positions = [e["position_seconds"] for name, e in events if name == "progress" and e["status"] == "running"]
    assert any(0 < p < 60 for p in positions), events  # progress seen mid-way, not only the end
    assert positions == sorted(positions)
    # Segments sent while it ran are the first of the result's (the result has them all once "done" comes).
    live = [(e["segment"]["start"], e["segment"]["text"]) for name, e in events if name == "segment"]
    result = server.http.get(f"/v1/jobs/{job['id']}/result", params={"format": "json"}).json()
    assert live == [(s["start"], s["text"]) for s in result["segments"]][:len(live)]


def test_segments_stream_while_a_long_job_runs(server: Server, long_wav: Path) -> None:
    job = server.submit(long_wav, language="en").json()
    seen: list[str] = []  # event names, in order
    segments: list[dict[str, Any]] = []
    with server.http.stream("GET", f"/v1/jobs/{job['id']}/events", timeout=180) as stream:
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                seen.append(name)
                if name == "segment":
                    segments.append(json.loads(line[6:])["segment"])
                # segments, then more progress, then more segments: they are decoded and sent as the job runs
                if "segment" in seen and "progress" in seen[seen.index("segment"):] and seen[-1] == "segment":
                    break
    running = server.job(job["id"])
    assert running["status"] == "running" and running["position_seconds"] < 600, seen
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments) and segments[0]["text"].strip()
    server.http.delete(f"/v1/jobs/{job['id']}")



def test_cancel_stops_a_long_job_and_retry_runs_a_cancelled_one(server: Server, long_wav: Path) -> None:
    long_job = server.submit(long_wav, language="en").json()
    waiting = server.submit(SHORT).json()  # queued behind the long job (one worker)
    server.wait_progress(long_job["id"])
    assert server.job(waiting["id"])["status"] == "queued"
    assert server.http.delete(f"/v1/jobs/{waiting['id']}").json()["status"] == "cancelled"

    cancelled = server.http.delete(f"/v1/jobs/{long_job['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert server.http.get(f"/v1/jobs/{long_job['id']}/result").status_code == 409

    # The worker must drop the 10-minute file (≈ 30 s more work here) and be free for the retried job at once.
    assert server.http.post(f"/v1/jobs/{waiting['id']}/retry").json()["status"] == "queued"
    # That the worker drops the cancelled run at once is tests/unit/test_jobs_runner.py's (no timing here).
    assert server.wait_status(waiting["id"], {"succeeded"}, timeout=60)["attempt"] == 1
    assert server.job(long_job["id"])["status"] == "cancelled"
    assert not (server.home / "files" / "results" / long_job["id"]).exists()
    assert server.http.post(f"/v1/jobs/{waiting['id']}/retry").status_code == 409  # succeeded: not retryable


def test_server_killed_mid_job_finishes_it_after_restart(tmp_path: Path) -> None:
    srv = Server(tmp_path).start()
    try:
        wav = write_long_wav(tmp_path / "four-minutes.wav", 240)
        job = srv.submit(wav, language="en").json()
        srv.wait_progress(job["id"])
        srv.kill()
        srv.start()
        done = srv.wait_status(job["id"], {"succeeded", "failed"}, timeout=240)
        assert done["status"] == "succeeded" and done["attempt"] == 2, done
        assert done["duration_seconds"] == pytest.approx(240, abs=0.5)
        segments = srv.http.get(f"/v1/jobs/{job['id']}/result").json()["segments"]
        assert segments[0]["start"] < 5 and segments[-1]["end"] > 225  # the whole file, not only after the kill
    finally:
        srv.stop()


def test_the_uploaded_audio_plays_back_with_range_requests(server: Server) -> None:
    job = server.submit(SHORT).json()
    whole = server.http.get(f"/v1/jobs/{job['id']}/audio")
    assert whole.status_code == 200 and whole.content == SHORT.read_bytes()
    assert whole.headers["content-type"] == "audio/flac" and SHORT.name in whole.headers["content-disposition"]
    part = server.http.get(f"/v1/jobs/{job['id']}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == SHORT.read_bytes()[100:200]
    missing = server.http.get("/v1/jobs/job_0000/audio")
    assert missing.status_code == 404 and missing.json()["error"]["code"]

"""Durable jobs with uploads and results in S3 (a real moto_server on 127.0.0.1): nothing on the server's disk."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import HABLA, HablaServer, wait_for
from tests.e2e.test_jobs import CLIP, SHORT, Server
from tests.s3server import MotoS3, free_port

BUCKET = "jobs"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with MotoS3(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        server.bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def server(moto: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {**moto.settings_env(BUCKET, "api"), "HABLA_JOBS__STORAGE_REDIRECTS": "true"}
    with Server(tmp_path_factory.mktemp("s3-server"), env=env).start() as srv:
        yield srv


def test_a_job_runs_from_and_into_the_store(server: Server, moto: MotoS3) -> None:
    health = server.http.get("/healthz").json()
    assert health["status"] == "ok" and health["storage"]["backend"] == "s3" and health["storage"]["ok"]
    created = server.submit(CLIP, language="en")
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert server.wait_status(job_id, {"succeeded", "failed"})["status"] == "succeeded"
    assert [k for k in moto.keys(BUCKET, "api/") if k.startswith("api/uploads/")]
    # One result object per attempt (the formats are rendered from it); the live segments go just after the job
    # is done (their delete is not part of its time).
    only_result = [f"api/results/{job_id}/1/result.json"]
    wait_for(lambda: moto.keys(BUCKET, f"api/results/{job_id}/") == only_result, 30, "only the result object")
    assert not (server.home / "files").exists() or not any((server.home / "files").rglob("*.*"))

    streamed = {fmt: server.http.get(f"/v1/jobs/{job_id}/result", params={"format": fmt})
                for fmt in ("json", "txt", "srt", "vtt", "tsv")}
    assert all(r.status_code == 200 for r in streamed.values())  # rendered by the API, redirects or not
    assert streamed["json"].json()["text"].lower().startswith("please press 1")
    assert "words" not in streamed["json"].json()["segments"][0]  # not asked for
    assert streamed["vtt"].text.startswith("WEBVTT") and "-->" in streamed["srt"].text
    assert streamed["txt"].headers["content-type"].startswith("text/plain")


def test_a_stored_result_served_as_is_is_redirected(server: Server, moto: MotoS3) -> None:
    job_id = server.submit(CLIP, language="en", word_timestamps="true").json()["id"]
    assert server.wait_status(job_id, {"succeeded", "failed"})["status"] == "succeeded"
    streamed = server.http.get(f"/v1/jobs/{job_id}/result", params={"format": "json", "redirect": "false"})
    assert streamed.status_code == 200 and streamed.json()["segments"][0]["words"]
    redirected = server.http.get(f"/v1/jobs/{job_id}/result", params={"format": "json"})
    assert redirected.status_code == 307 and redirected.headers["location"].startswith(moto.url)
    direct = httpx.get(redirected.headers["location"])
    assert direct.status_code == 200 and direct.json() == streamed.json()
    assert direct.headers["content-type"].startswith("application/json")
    assert server.http.get(f"/v1/jobs/{job_id}/result", params={"format": "srt"}).status_code == 200


def test_the_audio_is_streamed_with_ranges_or_redirected(server: Server) -> None:
    job_id = server.submit(SHORT).json()["id"]
    sent = SHORT.read_bytes()
    whole = server.http.get(f"/v1/jobs/{job_id}/audio", params={"redirect": "false"})
    assert whole.status_code == 200 and whole.content == sent
    assert whole.headers["content-type"] == "audio/flac" and whole.headers["accept-ranges"] == "bytes"
    part = server.http.get(f"/v1/jobs/{job_id}/audio", params={"redirect": "false"}, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == sent[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(sent)}"
    redirected = server.http.get(f"/v1/jobs/{job_id}/audio")
    assert redirected.status_code == 307
    assert httpx.get(redirected.headers["location"]).content == sent
    server.wait_status(job_id, {"succeeded", "failed"})


def test_uploads_refused_after_streaming_leave_no_object(server: Server, moto: MotoS3) -> None:
    """The file part goes into the store as it arrives, before the fields after it are read: a bad field after
    it, or a large non-audio file (a multipart upload of two parts), leaves no object and no unfinished upload."""
    before = moto.keys(BUCKET, "api/uploads/")
    bad_field = server.http.post("/v1/jobs", files=[("file", ("a.flac", CLIP.read_bytes(), "audio/flac")),
                                                    ("speakers", (None, "0"))])
    assert bad_field.status_code == 400, bad_field.text
    assert bad_field.json()["error"]["param"] == "speakers"
    noise = server.http.post("/v1/jobs", files={"file": ("big.wav", b"\x01" * (9 << 20), "audio/wav")})
    assert noise.status_code == 415, noise.text
    assert moto.keys(BUCKET, "api/uploads/") == before
    assert moto.multipart_uploads(BUCKET) == []
    accepted = server.http.post("/v1/jobs", files=[("file", ("a.flac", CLIP.read_bytes(), "audio/flac")),
                                                   ("language", (None, "en"))])  # a field after the file is read
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["options"]["language"] == "en"
    assert len(moto.keys(BUCKET, "api/uploads/")) == len(before) + 1


def test_a_store_that_stops_answering_gives_503_and_healthz_says_so(moto: MotoS3, tmp_path: Path) -> None:
    env = {**moto.settings_env(BUCKET, "paused"), "HABLA_JOBS__STORAGE_TIMEOUT_SECONDS": "1"}
    with Server(tmp_path, env=env).start() as srv:
        moto.pause()
        try:
            refused = srv.submit(SHORT)
            health = srv.http.get("/healthz").json()
        finally:
            moto.resume()
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_unavailable" and error["type"] == "server_error"
        assert "unreachable" in error["message"] and "Traceback" not in refused.text
        assert health["status"] == "degraded" and not health["storage"]["ok"]
        created = srv.submit(SHORT)  # the store is back: the same request succeeds
        assert created.status_code == 201, created.text
        assert srv.wait_status(created.json()["id"], {"succeeded", "failed"})["status"] == "succeeded"


@pytest.mark.parametrize(("bucket", "message"), [("missing-bucket", "bucket 'missing-bucket' does not exist"),
                                                  (BUCKET, "unreachable")])
def test_serve_and_worker_refuse_to_start_with_a_broken_store(moto: MotoS3, tmp_path: Path, bucket: str,
                                                              message: str) -> None:
    env = {**HablaServer(tmp_path).env, **moto.settings_env(bucket)}
    if message == "unreachable":
        env["HABLA_JOBS__STORAGE_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
        env["HABLA_JOBS__STORAGE_TIMEOUT_SECONDS"] = "1"
    for command in (["serve", "--port", str(free_port())], ["worker"]):
        done = subprocess.run([HABLA, *command], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 7, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in done.stderr, done.stderr

"""Admission control on every heavy path: with the LLM and speech slots full (and no queue), chat, job summaries,
speech and tutor turns are refused with 429 + Retry-After, while /healthz answers and a transcription (its own
slots) still completes. The app runs in-process with its real lifespan, engines and base model; the slots are
held from the app's own event loop, so the test does not depend on how fast anything runs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from habla.config import Settings
from habla.server.app import create_app
from habla.server.limits import Slots

ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
WELCOME = SPEECH / "ast-en-dir-welcome.flac"  # 1.8 s: "Welcome to the directory."


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("admission")
    settings = Settings(home=home, jobs={"storage_dir": home / "files"},
                        server={"llm_concurrency": 1, "speech_concurrency": 1, "max_queue": 0})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


class HeldSlots:
    """Takes every LLM and speech slot on the app's loop and keeps them until ``release``."""

    def __init__(self, client: TestClient) -> None:
        self.portal = client.portal
        assert self.portal is not None
        self.slots: Slots = client.app.state.slots  # type: ignore[attr-defined]
        self._release: asyncio.Event | None = None
        self._held = self.portal.call(self._make_event)
        self.task = self.portal.start_task_soon(self._hold)
        self.portal.call(self._held.wait)  # both kinds are full from here on

    async def _make_event(self) -> asyncio.Event:
        self._release = asyncio.Event()
        return asyncio.Event()

    async def _hold(self) -> None:
        assert self._release is not None
        async with AsyncExitStack() as stack:
            for limiter in (self.slots.llm, self.slots.speech):
                for _ in range(limiter.limit):
                    await stack.enter_async_context(limiter.slot())
            self._held.set()
            await self._release.wait()

    def release(self) -> None:
        assert self._release is not None
        self.portal.call(self._release.set)
        self.task.result(timeout=30)


def _assert_busy(response: object, what: str) -> None:
    status = getattr(response, "status_code", None)
    assert status == 429, getattr(response, "text", response)
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == "rate_limit_exceeded" and what in body["error"]["message"]
    assert int(response.headers["retry-after"]) >= 1  # type: ignore[attr-defined]


def test_full_llm_and_speech_slots_refuse_with_429_while_health_and_transcription_work(client: TestClient) -> None:
    held = HeldSlots(client)
    try:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["llm_in_flight"] == 1 and health.json()["speech_in_flight"] == 1

        chat = client.post("/v1/chat/completions", json={"model": "default",
                                                          "messages": [{"role": "user", "content": "Hi"}]})
        _assert_busy(chat, "LLM requests")
        stream = client.post("/v1/chat/completions", json={"model": "default", "stream": True,
                                                            "messages": [{"role": "user", "content": "Hi"}]})
        _assert_busy(stream, "LLM requests")
        _assert_busy(client.post("/v1/audio/speech", json={"input": "Hello there.", "voice": "alloy"}),
                     "speech syntheses")

        session = client.post("/v1/tutor/sessions", json={"persona": "spanish-teacher"})
        assert session.status_code == 201, session.text
        turn = client.post(f"/v1/tutor/sessions/{session.json()['id']}/turns", data={"text": "Hola, ¿qué tal?"})
        _assert_busy(turn, "LLM requests")

        with WELCOME.open("rb") as audio:
            done = client.post("/v1/audio/transcriptions", files={"file": ("welcome.flac", audio)},
                               data={"model": "whisper-1", "language": "en"})
        assert done.status_code == 200, done.text
        assert "welcome" in done.json()["text"].lower()
        assert client.get("/healthz").json()["transcriptions_in_flight"] == 0  # its slot was given back
    finally:
        held.release()
    after = client.get("/healthz").json()
    assert (after["llm_in_flight"], after["speech_in_flight"]) == (0, 0)


def test_a_job_summary_takes_an_llm_slot(client: TestClient) -> None:
    with WELCOME.open("rb") as audio:
        job = client.post("/v1/jobs", files={"file": ("welcome.flac", audio)}, data={"language": "en"})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    for _ in range(600):  # the job runs on the app's worker thread: wait for it, not for a time
        status = client.get(f"/v1/jobs/{job_id}").json()["status"]
        if status not in ("queued", "running"):
            break
        client.portal.call(asyncio.sleep, 0.1)  # type: ignore[union-attr]
    assert status == "succeeded", status
    held = HeldSlots(client)
    try:
        _assert_busy(client.post(f"/v1/jobs/{job_id}/summary"), "LLM requests")
        _assert_busy(client.post(f"/v1/jobs/{job_id}/ask", json={"question": "What is said?"}), "LLM requests")
    finally:
        held.release()

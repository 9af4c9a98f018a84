"""Admission control and error bodies of the server, without a model."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from habla.errors import AudioDecodeError
from habla.server import errors
from habla.server.errors import RateLimited
from habla.server.limits import ConcurrencyLimiter, RateLimiter


def test_rate_limit_refuses_the_request_over_the_budget_per_key() -> None:
    limiter = RateLimiter(per_minute=3)
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert refused.value.http_status == 429 and 1 <= refused.value.retry_after <= 20
    limiter.check("b")  # another key has its own budget


def test_rate_limit_zero_means_unlimited() -> None:
    limiter = RateLimiter(per_minute=0)
    for _ in range(1000):
        limiter.check("a")


def test_full_queue_is_refused_and_waiting_requests_run_in_turn() -> None:
    async def scenario() -> list[str]:
        limiter = ConcurrencyLimiter(limit=1, max_queue=1)
        order: list[str] = []
        release = asyncio.Event()

        async def job(name: str) -> None:
            async with limiter.slot():
                order.append(name)
                await release.wait()

        first = asyncio.create_task(job("first"))
        await asyncio.sleep(0)
        second = asyncio.create_task(job("second"))
        await asyncio.sleep(0)
        assert (limiter.in_flight, limiter.waiting) == (1, 1)
        with pytest.raises(RateLimited) as refused:
            async with limiter.slot():
                pass
        assert refused.value.retry_after >= 1
        release.set()
        await asyncio.gather(first, second)
        assert (limiter.in_flight, limiter.waiting) == (0, 0)
        return order

    assert asyncio.run(scenario()) == ["first", "second"]


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/busy")
    def busy() -> None:
        raise RateLimited("server busy", retry_after=2.4)

    @app.get("/bad-audio")
    def bad_audio() -> None:
        raise AudioDecodeError("not a readable audio file")

    @app.get("/bug")
    def bug() -> None:
        raise ValueError("secret internal detail")

    @app.get("/typed")
    def typed(n: int) -> int:
        return n

    return app


def test_errors_have_openai_shape_and_status() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    busy = client.get("/busy")
    assert busy.status_code == 429 and busy.headers["retry-after"] == "2"
    assert busy.json()["error"] == {"message": "server busy", "type": "rate_limit_error", "param": None,
                                    "code": "rate_limit_exceeded"}
    assert client.get("/bad-audio").status_code == 415
    invalid = client.get("/typed", params={"n": "x"})
    assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "n"
    missing = client.get("/typed").json()["error"]
    assert missing["code"] == "missing_parameter" and "'n'" in missing["message"]
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"


def test_unexpected_errors_are_500_without_details() -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get("/bug")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_a_hanging_storage_check_never_blocks_the_event_loop() -> None:
    from habla.server.probes import StorageProbe

    release, finished, calls, cache = threading.Event(), threading.Event(), [], {}

    def check() -> dict[str, object]:
        calls.append(1)
        release.wait(30)  # a store that does not answer
        cache["health"] = {"backend": "s3", "ok": True}  # as JobService.storage_health caches its answer
        finished.set()
        return cache["health"]

    probe = StorageProbe(lambda: cache.get("health"), check, "s3", timeout=0.05)

    async def scenario() -> tuple[list[dict[str, object]], bool, dict[str, object]]:
        ticked = asyncio.Event()

        async def tick() -> None:
            ticked.set()  # runs only if the loop is free while the checks wait

        first = await asyncio.gather(probe(), probe(), tick())
        release.set()
        await asyncio.to_thread(finished.wait, 30)
        return first[:2], ticked.is_set(), await probe()

    timed_out, loop_was_free, answered = asyncio.run(scenario())
    assert timed_out == [{"backend": "s3", "ok": False, "code": "storage_timeout"}] * 2
    assert loop_was_free and answered == {"backend": "s3", "ok": True}
    assert len(calls) == 1  # the two waiting probes shared one check, and its answer was then cached


def test_a_fresh_storage_answer_needs_no_thread() -> None:
    from habla.server.probes import StorageProbe

    probe = StorageProbe(lambda: {"backend": "local", "ok": True}, lambda: pytest.fail("checked again"), "local")
    assert asyncio.run(probe()) == {"backend": "local", "ok": True}


def test_the_cancel_event_is_set_when_the_client_hangs_up_and_when_the_work_ends() -> None:
    from habla.server.disconnect import cancelled_on_disconnect

    class Client:
        def __init__(self) -> None:
            self.gone = asyncio.Event()

        async def is_disconnected(self) -> bool:
            return self.gone.is_set()

    async def scenario() -> tuple[bool, bool, bool]:
        client, idle = Client(), Client()
        async with cancelled_on_disconnect(client) as cancel:  # type: ignore[arg-type]
            before = cancel.is_set()
            client.gone.set()
            await asyncio.to_thread(cancel.wait, 30)  # as the work's thread would see it
            hung_up = cancel.is_set()
        async with cancelled_on_disconnect(idle) as finished:  # type: ignore[arg-type]
            pass
        return before, hung_up, finished.is_set()

    assert asyncio.run(scenario()) == (False, True, True)

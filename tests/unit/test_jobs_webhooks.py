"""Completion webhooks against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket

import pytest

from habla.errors import InvalidOption
from habla.jobs.webhooks import SIGNATURE_HEADER, check_url, deliver, sign
from tests.conftest import WebhookReceiver


@pytest.fixture()
def receiver():
    made: list[WebhookReceiver] = []

    def make(statuses: list[int]) -> WebhookReceiver:
        made.append(WebhookReceiver(tuple(statuses)))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_webhook_is_retried_after_a_server_error_and_signed(receiver) -> None:
    hook = receiver([500, 200])
    status = deliver(hook.url, {"id": "job_1", "status": "succeeded"}, timeout=2, retries=2, secret="s3cret",
                     backoff=0.01)
    assert status == "delivered (200)"
    assert len(hook.requests) == 2
    headers, body = hook.requests[-1]
    assert json.loads(body) == {"id": "job_1", "status": "succeeded"}
    assert headers[SIGNATURE_HEADER] == sign(body, "s3cret")


def test_webhook_rejected_by_the_receiver_is_not_retried(receiver) -> None:
    hook = receiver([404])
    assert deliver(hook.url, {"id": "j"}, timeout=2, retries=3, backoff=0.01) == "failed: HTTP 404"
    assert len(hook.requests) == 1


def test_unreachable_webhook_gives_up_in_bounded_time() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = deliver(f"http://127.0.0.1:{port}/", {"id": "j"}, timeout=1, retries=2, backoff=0.05)
    assert status.startswith("failed")  # it returns (after its retries): bounded by the retry count, not a clock


def test_only_http_webhook_urls_are_accepted() -> None:
    assert check_url("https://example.org/hook")
    for bad in ("file:///etc/passwd", "ftp://x/", "not a url"):
        with pytest.raises(InvalidOption):
            check_url(bad)

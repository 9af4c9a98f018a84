"""Completion webhooks against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time

import pytest

from habla.errors import InvalidOption
from habla.jobs.webhooks import SIGNATURE_HEADER, check_url, deliver, sign
from tests.conftest import WebhookReceiver

LOOPBACK = ["127.0.0.1"]  # the receivers here are local: the operator's allow-list lets them be called


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
                     backoff=0.01, allow=LOOPBACK)
    assert status == "delivered (200)"
    assert len(hook.requests) == 2
    headers, body = hook.requests[-1]
    assert json.loads(body) == {"id": "job_1", "status": "succeeded"}
    assert headers[SIGNATURE_HEADER] == sign(body, "s3cret")


def test_webhook_rejected_by_the_receiver_is_not_retried(receiver) -> None:
    hook = receiver([404])
    assert deliver(hook.url, {"id": "j"}, timeout=2, retries=3, backoff=0.01, allow=LOOPBACK) == "failed: HTTP 404"
    assert len(hook.requests) == 1


def test_unreachable_webhook_gives_up_in_bounded_time() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = deliver(f"http://127.0.0.1:{port}/", {"id": "j"}, timeout=1, retries=2, backoff=0.05, allow=LOOPBACK)
    assert status.startswith("failed")  # it returns (after its retries): bounded by the retry count, not a clock


def test_only_http_webhook_urls_are_accepted() -> None:
    assert check_url("https://example.org/hook")
    for bad in ("file:///etc/passwd", "ftp://x/", "not a url"):
        with pytest.raises(InvalidOption):
            check_url(bad)


class Misbehaving:
    """A raw HTTP receiver on 127.0.0.1 that misbehaves as told: drips its answer one byte per ``drip`` s, answers
    with a huge body, or redirects; it counts the requests and the body bytes it managed to send."""

    def __init__(self, mode: str, drip: float = 0.5, location: str = "") -> None:
        import threading

        self.mode, self.drip, self.location = mode, drip, location
        self.requests = 0
        self.sent = 0
        self.done = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self.requests += 1
            try:
                if self.mode == "redirect":
                    conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {self.location}\r\n"
                                 "Content-Length: 0\r\n\r\n".encode())
                elif self.mode == "huge":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 157286400\r\n\r\n")
                    block = b"x" * 65536
                    while self.sent < 157286400:
                        conn.sendall(block)
                        self.sent += len(block)
                elif self.mode == "drip":
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000:
                        conn.sendall(bytes([byte]))
                        self.sent += 1
                        time.sleep(self.drip)
            except OSError:
                pass
            finally:
                self.done.set()

    def close(self) -> None:
        self.sock.close()


def test_a_webhook_to_a_private_address_is_refused_at_delivery_too(receiver) -> None:
    hook = receiver([200])
    status = deliver(hook.url, {"id": "j"}, timeout=2, retries=2, backoff=0.01)  # no allow-list
    assert status.startswith("refused") and "non-public" in status
    assert hook.requests == []


def test_redirects_are_not_followed(receiver) -> None:
    target = receiver([200])
    hop = Misbehaving("redirect", location=target.url)
    try:
        status = deliver(hop.url, {"id": "j"}, timeout=2, retries=2, backoff=0.01, allow=LOOPBACK)
        assert status == "failed: HTTP 307" and hop.requests == 1
        assert target.requests == []
    finally:
        hop.close()


def test_a_huge_response_is_read_only_a_few_kilobytes() -> None:
    big = Misbehaving("huge")
    try:
        assert deliver(big.url, {"id": "j"}, timeout=5, retries=0, allow=LOOPBACK) == "delivered (200)"
        assert big.done.wait(10)
        assert big.sent < 16 << 20, big.sent  # socket buffers at most, never the 150 MB
    finally:
        big.close()


def test_a_dripping_receiver_costs_one_timeout_per_try() -> None:
    slow = Misbehaving("drip", drip=0.2)
    try:
        status = deliver(slow.url, {"id": "j"}, timeout=1, retries=1, backoff=0.01, allow=LOOPBACK)
        assert status == "failed: TimeoutError" and slow.requests == 2
        assert slow.sent < 40  # about 1 s of drip per try, not the whole answer
    finally:
        slow.close()


def test_a_slow_receiver_does_not_hold_up_other_webhooks(receiver) -> None:
    from habla.jobs.webhooks import deliver_in_background

    slow = Misbehaving("drip", drip=0.5)
    honest = receiver([200])
    statuses: dict[str, str] = {}
    try:
        for i in range(6):  # more slow hooks than the pool has threads
            deliver_in_background(slow.url, {"id": f"slow{i}"}, timeout=30, retries=0, secret=None,
                                  on_done=lambda s, i=i: statuses.__setitem__(f"slow{i}", s), allow=LOOPBACK,
                                  workers=2)
        deliver_in_background(honest.url, {"id": "honest"}, timeout=30, retries=0, secret=None,
                              on_done=lambda s: statuses.__setitem__("honest", s), allow=LOOPBACK, workers=2)
        deadline = time.monotonic() + 20
        while ("honest" not in statuses or not slow.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert statuses.get("honest") == "delivered (200)"
        assert not slow.done.is_set()  # the first slow answer is still dripping (it takes 20 s)
        assert slow.requests == 1  # one slow delivery at a time; the rest wait for that receiver, not the pool
    finally:
        slow.close()

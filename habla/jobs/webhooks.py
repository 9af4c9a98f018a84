"""Completion webhooks: a JSON POST with a few retries, bounded in time, sent off the worker thread."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

from habla.errors import InvalidOption

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Habla-Signature"
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidOption(f"webhook_url must be an http(s) URL, not {url!r}")
    return url


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(url: str, payload: dict[str, Any], *, timeout: float, retries: int, secret: str | None = None,
            backoff: float = 1.0) -> str:
    """POST ``payload``; retry connection errors and 5xx/429 with doubling waits. Returns a short status."""
    import httpx

    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "habla-jobs"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    status = "not sent"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            status = f"failed: {type(exc).__name__}"
            continue
        if response.status_code < 300:
            return f"delivered ({response.status_code})"
        status = f"failed: HTTP {response.status_code}"
        if response.status_code < 500 and response.status_code != 429:
            break  # the receiver rejected it; asking again will not help
    log.warning("webhook %s for job %s %s", url, payload.get("id"), status)
    return status


def deliver_in_background(url: str, payload: dict[str, Any], *, timeout: float, retries: int,
                          secret: str | None, on_done: Any) -> None:
    """Queue a delivery on a small shared pool; ``on_done(status)`` records the outcome."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="habla-webhook")

    def send() -> None:
        status = deliver(url, payload, timeout=timeout, retries=retries, secret=secret)
        try:
            on_done(status)
        except Exception:  # recording the outcome must not kill the pool thread
            log.exception("could not record webhook status for job %s", payload.get("id"))

    _pool.submit(send)

"""Completion webhooks: a signed JSON POST, with a few retries, that cannot be turned against the server's network.

A client names the URL, so every delivery is a request the server makes on a stranger's behalf. Hence:

- http and https only; no userinfo (``user@host`` is the usual way to fool a filter), no redirects followed;
- the host is resolved here and *every* address must be public (not loopback, private, link-local, multicast,
  unspecified or reserved, in IPv4 or IPv6, IPv4-mapped included), unless the operator's allow-list names it; the
  connection then goes to the address that was checked (the name is sent as Host and TLS SNI), so a DNS answer
  that changes between the check and the connect (rebinding) gains nothing. Numeric forms (``2130706433``,
  ``0x7f.1``, ``127.1``) resolve to what they mean, and are judged by that;
- one try is bounded as a whole (connect, send, response headers, and a body read of at most
  ``MAX_RESPONSE_BYTES``), so a receiver that drips its answer, or sends 150 MB, costs ``timeout`` and 4 KB;
- deliveries share a pool, with at most one in flight per receiver, so a slow receiver delays only its own hooks.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from habla.errors import InvalidOption

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Habla-Signature"
MAX_RESPONSE_BYTES = 4096  # the status is all habla needs; a receiver's body is read this far and dropped
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(Exception):
    """The URL may not be called (a non-public address not on the allow-list, or not resolvable)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to call it (``host`` for Host and SNI)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _parse(url: str) -> tuple[str, str, int, str]:
    if len(url) > 2048 or any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        raise InvalidOption("webhook_url must be a plain http(s) URL (no spaces, control characters or '\\')")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidOption(f"webhook_url is not a valid URL: {url[:200]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidOption(f"webhook_url must be an http(s) URL, not {url[:200]!r}")
    if "@" in parts.netloc:
        raise InvalidOption("webhook_url must not carry a user name or password")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname.lower().rstrip("."), port or (443 if parts.scheme == "https" else 80), path


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _allowed(host: str, address: IPAddress, allow: Iterable[str]) -> bool:
    for entry in allow:
        entry = entry.strip().lower()
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def resolve_target(url: str, allow: Iterable[str] = ()) -> Target:
    """Check ``url`` and pick the address to connect to; WebhookRefused unless every address may be called."""
    scheme, host, port, path = _parse(url)
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise WebhookRefused(f"cannot resolve {host!r}: {exc}") from None
    allow = list(allow)
    refused = [a for a in addresses if not _public(a) and not _allowed(host, a, allow)]
    if refused or not addresses:
        raise WebhookRefused(f"{host!r} resolves to a non-public address ({refused[0] if refused else 'none'})")
    return Target(scheme, host, port, path, str(addresses[0]))


def check_url(url: str, allow: Iterable[str] = ()) -> str:
    """Refuse, when a job is submitted, a URL that could never be delivered to. A name that does not resolve now
    is accepted (it is checked again at delivery); one that resolves to a forbidden address is not."""
    _parse(url)
    try:
        resolve_target(url, allow)
    except WebhookRefused as exc:
        if "cannot resolve" not in str(exc):
            raise InvalidOption(f"webhook_url is not allowed: {exc}",
                                hint="webhooks go to public addresses; an operator can allow others with "
                                     "HABLA_JOBS__WEBHOOK_ALLOW_HOSTS") from None
    return url


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _Retry(Exception):
    """A try that may succeed later (connection error, timeout, 5xx, 429)."""


async def _post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One try, bounded as a whole by ``timeout``; returns the status after reading at most a few KB of body."""
    import httpx

    ip = f"[{target.address}]" if ":" in target.address else target.address
    url = f"{target.scheme}://{ip}:{target.port}{target.path}"
    default_port = target.port == (443 if target.scheme == "https" else 80)
    headers = {**headers, "Host": target.host if default_port else f"{target.host}:{target.port}"}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    async with asyncio.timeout(timeout), httpx.AsyncClient(follow_redirects=False, timeout=timeout,
                                                           trust_env=False) as client:
        request = client.build_request("POST", url, content=body, headers=headers, extensions=extensions)
        response = await client.send(request, stream=True)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
        return response.status_code


def deliver(url: str, payload: dict[str, Any], *, timeout: float, retries: int, secret: str | None = None,
            backoff: float = 1.0, allow: Iterable[str] = ()) -> str:
    """POST ``payload``; retry connection errors, timeouts and 5xx/429 with doubling waits. Returns a short status.
    The address is checked before every try."""
    import httpx
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "habla-jobs"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    allow = list(allow)
    status = "not sent"

    def attempt() -> str:
        nonlocal status
        try:
            target = resolve_target(url, allow)
            code = asyncio.run(_post(target, body, headers, timeout))
        except WebhookRefused as exc:
            status = f"refused: {exc}"
            return status
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            status = f"failed: {type(exc).__name__}"
            raise _Retry from exc
        if code < 300:
            return f"delivered ({code})"
        status = f"failed: HTTP {code}"
        if code >= 500 or code == 429:
            raise _Retry
        return status  # the receiver rejected it (or redirected): asking again will not help

    try:
        result = Retrying(stop=stop_after_attempt(retries + 1), retry=retry_if_exception_type(_Retry),
                          wait=wait_exponential(multiplier=backoff, max=60), reraise=False)(attempt)
    except RetryError:
        result = status
    if not result.startswith("delivered"):
        log.warning("webhook for job %s %s", payload.get("id"), result)
    return result


class WebhookPool:
    """Delivers in the background on ``workers`` threads, one delivery per receiver (host:port) at a time: hooks
    for a slow receiver wait for it, in order, while the others' go on."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="habla-webhook")
        self._lock = threading.Lock()
        self._waiting: dict[str, deque[Callable[[], None]]] = defaultdict(deque)
        self._busy: set[str] = set()

    def submit(self, receiver: str, send: Callable[[], None]) -> None:
        with self._lock:
            if receiver in self._busy:
                self._waiting[receiver].append(send)
                return
            self._busy.add(receiver)
        self._executor.submit(self._run, receiver, send)

    def _run(self, receiver: str, send: Callable[[], None]) -> None:
        while True:
            try:
                send()
            except Exception:
                log.exception("webhook delivery to %s failed", receiver)
            with self._lock:
                queue = self._waiting.get(receiver)
                if not queue:
                    self._busy.discard(receiver)
                    self._waiting.pop(receiver, None)
                    return
                send = queue.popleft()


_pool: WebhookPool | None = None
_pool_lock = threading.Lock()


def _receiver(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{(parts.hostname or '').lower()}:{parts.port or parts.scheme}"
    except ValueError:
        return url


def deliver_in_background(url: str, payload: dict[str, Any], *, timeout: float, retries: int,
                          secret: str | None, on_done: Callable[[str], None], allow: Iterable[str] = (),
                          workers: int = 4) -> None:
    """Queue a delivery on the shared pool; ``on_done(status)`` records the outcome."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WebhookPool(workers)
    allow = list(allow)

    def send() -> None:
        status = deliver(url, payload, timeout=timeout, retries=retries, secret=secret, allow=allow)
        try:
            on_done(status)
        except Exception:  # recording the outcome must not kill the pool thread
            log.exception("could not record webhook status for job %s", payload.get("id"))

    _pool.submit(_receiver(url), send)

"""Checks /healthz makes without blocking the event loop: a slow store must not stall every other request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# /healthz waits this long for a storage check (a local folder answers in milliseconds, S3 in tens of them);
# past it the store counts as not answering, and the check goes on in its thread for the next probe to use.
STORAGE_CHECK_TIMEOUT_SECONDS = 1.0


class StorageProbe:
    """The job storage's health for /healthz. A fresh cached answer is returned at once; otherwise one check runs
    in asyncio's own executor (not Starlette's thread pool, which heavy requests may fill), shared by concurrent
    probes, and awaited at most ``timeout`` seconds."""

    def __init__(self, cached: Callable[[], dict[str, Any] | None], check: Callable[[], dict[str, Any]],
                 backend: str, timeout: float = STORAGE_CHECK_TIMEOUT_SECONDS) -> None:
        self._cached, self._check, self._backend, self._timeout = cached, check, backend, timeout
        self._running: asyncio.Future[dict[str, Any]] | None = None

    async def __call__(self) -> dict[str, Any]:
        fresh = self._cached()
        if fresh is not None:
            return fresh
        loop = asyncio.get_running_loop()
        if self._running is None or self._running.done() or self._running.get_loop() is not loop:
            self._running = loop.run_in_executor(None, self._check)
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), self._timeout)
        except asyncio.TimeoutError:
            return {"backend": self._backend, "ok": False, "code": "storage_timeout"}

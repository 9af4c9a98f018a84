"""Work that stops when its client hangs up: a cancel event set by a watcher of the request's connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.requests import Request

DISCONNECT_POLL_SECONDS = 0.1  # how soon a vanished client's generation is cancelled (the target is 1 s)


async def cancel_on_disconnect(request: Request, cancel: threading.Event) -> None:
    """Set ``cancel`` as soon as the client hangs up; the engines check it between tokens, prompt batches,
    sentences and chunks."""
    while not cancel.is_set():
        if await request.is_disconnected():
            cancel.set()
            return
        await asyncio.sleep(DISCONNECT_POLL_SECONDS)


@asynccontextmanager
async def cancelled_on_disconnect(request: Request) -> AsyncIterator[threading.Event]:
    """A cancel event for work run in a thread: set when the client hangs up, and when the block ends (so the
    watcher stops and nothing keeps running after the answer)."""
    cancel = threading.Event()
    watch = asyncio.create_task(cancel_on_disconnect(request, cancel))
    try:
        yield cancel
    finally:
        cancel.set()
        watch.cancel()

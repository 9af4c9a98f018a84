"""Engines an app makes on first use (LLM, voice, ...), so a server never asked for one never loads it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

T = TypeVar("T")
_lock = threading.RLock()  # re-entrant: one factory may ask for another (voice engines need the LLM)


def shared(conn: HTTPConnection, name: str, make: Callable[[Any], T]) -> T:
    """``app.state.<name>``, made once by ``make(app.state)`` when first asked for (a request or a WebSocket)."""
    state = conn.app.state
    with _lock:
        found = getattr(state, name, None)
        if found is None:
            found = make(state)
            setattr(state, name, found)
    return found

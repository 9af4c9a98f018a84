"""Loaded models shared between callers: loaded lazily, reference-counted, unloaded after an idle TTL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T | None = None
    refs: int = 0
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    timer: threading.Timer | None = None


class ModelManager(Generic[T]):
    """``with manager.use(key) as model:`` loads on first use and keeps the model while anyone holds it.

    ``idle_seconds``: -1 keeps models forever, 0 unloads as soon as the last user leaves.
    ``on_load`` / ``on_unload`` let the server count loads for its metrics.
    """

    def __init__(self, loader: Callable[[Hashable], T], idle_seconds: float = 600.0,
                 on_load: Callable[[Hashable, float], None] | None = None,
                 on_unload: Callable[[Hashable], None] | None = None) -> None:
        self._loader = loader
        self.idle_seconds = idle_seconds
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._lock = threading.Lock()
        self._on_load = on_load
        self._on_unload = on_unload

    @contextmanager
    def use(self, key: Hashable) -> Iterator[T]:
        entry = self._acquire(key)
        try:
            assert entry.value is not None
            yield entry.value
        finally:
            self._release(key, entry)

    def loaded(self) -> list[Hashable]:
        with self._lock:
            return [k for k, e in self._entries.items() if e.value is not None]

    def unload(self, key: Hashable) -> bool:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.refs > 0:
                return False
            del self._entries[key]
        if entry.timer:
            entry.timer.cancel()
        entry.value = None
        log.info("unloaded model %s", key)
        if self._on_unload:
            self._on_unload(key)
        return True

    def unload_all(self) -> None:
        for key in list(self._entries):
            self.unload(key)

    def _acquire(self, key: Hashable) -> _Entry[T]:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            entry.refs += 1
            if entry.timer:
                entry.timer.cancel()
                entry.timer = None
        try:
            with entry.lock:  # one loader per key; other keys load in parallel
                if entry.value is None:
                    started = time.perf_counter()
                    entry.value = self._loader(key)
                    elapsed = time.perf_counter() - started
                    log.info("loaded model %s in %.2fs", key, elapsed)
                    if self._on_load:
                        self._on_load(key, elapsed)
        except BaseException:
            with self._lock:
                entry.refs -= 1
                if entry.refs == 0 and entry.value is None:
                    self._entries.pop(key, None)
            raise
        return entry

    def _release(self, key: Hashable, entry: _Entry[T]) -> None:
        with self._lock:
            entry.refs -= 1
            entry.last_used = time.monotonic()
            if entry.refs > 0 or self.idle_seconds < 0:
                return
            if self.idle_seconds > 0:
                entry.timer = threading.Timer(self.idle_seconds, self.unload, args=(key,))
                entry.timer.daemon = True
                entry.timer.start()
                return
        self.unload(key)

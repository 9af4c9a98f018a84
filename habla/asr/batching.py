"""Dynamic batching across requests: one queue in front of one loaded engine.

Every transcription in flight decodes through a ``BatchedEngine`` view. Its ``decode_chunks`` hands the chunks
(each a copy of its own audio slice) to the model's ``BatchScheduler`` and waits. A scheduler thread collects
compatible chunks (same language, task, beam, temperature, prompt and hotwords) from all requests, lays them one
after another in one array, and calls the real engine once with one span per chunk: each chunk is still its own
Whisper window, so no request's audio ever shares a window with another's. Results go back to each request with
its own times, in order.

Language detection goes through the same queue: requests that do not name their language ask for it first, and
their detections are batched together (one encoder call on windows of the same length), in the same order.

Order: interactive requests (sync API, tutor) before jobs; within a priority, one chunk per principal (API key) in
turn, each principal's requests oldest first. Jobs take at most ``max_job_chunks`` of a batch, so a batch in
progress never holds an interactive request back for long, and a job chunk that has waited ``job_boost_seconds``
counts as interactive, so jobs never starve either.

Filling windows: a transcription announces itself (``expect``) before its audio is decoded and its speech found, and
stops being expected when it submits its first chunks (or ends without speech). While some are expected and the
queue does not fill a batch, a batch waits up to ``fill_wait_ms`` instead of ``max_wait_ms``: under load, requests
reach the queue a few at a time while their uploads are decoded, and a batch sent at once would encode windows that
are mostly padding. A request alone is never expected by anyone else, so it waits ``max_wait_ms`` as before.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np

from habla.asr.options import TranscribeOptions
from habla.asr.packing import pack_audio, plan_packs, unpack
from habla.asr.protocol import ASREngine, ChunkText, Span
from habla.audio.decode import SAMPLE_RATE
from habla.config import BatchingSettings
from habla.errors import Cancelled

log = logging.getLogger(__name__)

Priority = Literal["interactive", "job"]
PRIORITY_RANK: dict[str, int] = {"interactive": 0, "job": 1}
# A chunk's place in the joined array is an exact sample index; the engine converts seconds back with int(), so a
# quarter sample keeps float error from moving a chunk's edge by one sample.
EDGE_SAMPLES = 0.25
CANCEL_POLL_SECONDS = 0.2  # how often a waiting request looks at its cancel event
WINDOW_SECONDS = 30.0  # Whisper's window: what ``max_batch`` counts when chunks are packed
DETECTION: Hashable = ("detect-language",)  # the batch key of language detections: compatible with each other only


class BatchObserver(Protocol):
    def on_batch(self, size: int, waits: Sequence[tuple[str, float]]) -> None:
        """One model call: its chunk count, and each chunk's (priority, seconds queued)."""
        ...

    def on_packing(self, windows: int, chunks: int, alone: int) -> None:
        """A packed batch: its Whisper windows, the chunks in them, and how many were decoded alone after."""
        ...


@dataclass
class _Request:
    seq: int
    key: Hashable
    language: str
    options: TranscribeOptions
    offset: float
    spans: list[Span]
    starts: list[int]  # each chunk's first sample in the request's audio
    pieces: list[np.ndarray]  # each chunk's audio (copied: the caller's block may be freed)
    priority: Priority
    principal: str
    enqueued: float
    cancel: threading.Event | None
    dispatched: int = 0  # chunks handed to the engine so far (taken in order)
    results: list[ChunkText | tuple[str, float] | None] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def undispatched(self) -> int:
        return len(self.spans) - self.dispatched

    def seconds(self, index: int) -> float:
        return len(self.pieces[index]) / SAMPLE_RATE

    def finish(self, error: BaseException | None = None) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


def batch_key(language: str, options: TranscribeOptions) -> Hashable:
    """What must be equal for chunks to share one engine call (the engine takes one language and options)."""
    return (language, options.task, options.beam_for(language), options.temperature, options.initial_prompt,
            options.hotwords)


class BatchScheduler:
    """Thread-safe. ``start()`` runs the scheduler thread; without it, ``step()`` decodes one batch in the caller's
    thread (what the unit tests use, so they never depend on timing)."""

    def __init__(self, engine: ASREngine, settings: BatchingSettings, observer: BatchObserver | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.settings, self.observer, self.clock = engine, settings, observer, clock
        self._queue: list[_Request] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._expected = 0  # transcriptions started whose first chunks are not queued yet

    # -- requests ----------------------------------------------------------------------------------------
    def expect(self) -> None:
        """A transcription has started and will submit chunks soon (see the module's "Filling windows")."""
        with self._cond:
            self._expected += 1

    def arrived(self) -> None:
        """An expected transcription submitted its first chunks, or ended without any."""
        with self._cond:
            self._expected = max(0, self._expected - 1)
            self._cond.notify_all()

    def expected(self) -> int:
        with self._cond:
            return self._expected

    def submit(self, audio: np.ndarray, spans: Sequence[Span], language: str, options: TranscribeOptions,
               offset: float, priority: Priority = "interactive", principal: str = "",
               cancel: threading.Event | None = None, first: bool = False) -> _Request:
        """``first``: the caller was expected (``expect``) and this is its first submission; it stops being
        expected in the same step, so no batch can start between the two."""
        starts = [int(s * SAMPLE_RATE) for s, _ in spans]
        pieces = [audio[start:int(e * SAMPLE_RATE)].copy() for start, (_, e) in zip(starts, spans, strict=False)]
        request = _Request(next(self._seq), batch_key(language, options), language, options, offset, list(spans),
                           starts, pieces, priority, principal, self.clock(), cancel, results=[None] * len(spans))
        if not spans:
            request.finish()
            if first:
                self.arrived()
            return request
        with self._cond:
            if first:
                self._expected = max(0, self._expected - 1)
            self._enqueue(request)
        return request

    def submit_detection(self, audio: np.ndarray, priority: Priority = "interactive", principal: str = "",
                         cancel: threading.Event | None = None) -> _Request:
        """A language detection of ``audio``'s first 30 s; its one result is (language, probability)."""
        piece = audio[: int(WINDOW_SECONDS * SAMPLE_RATE)].copy()
        request = _Request(next(self._seq), DETECTION, "", TranscribeOptions(), 0.0, [(0.0, len(piece) / SAMPLE_RATE)],
                           [0], [piece], priority, principal, self.clock(), cancel, results=[None])
        with self._cond:
            self._enqueue(request)
        return request

    def _enqueue(self, request: _Request) -> None:
        """Called holding the condition."""
        if self._closed:
            raise RuntimeError("the batch scheduler is closed")
        self._queue.append(request)
        self._cond.notify()

    def wait(self, request: _Request) -> list[Any]:
        """The request's results in order (ChunkText, or (language, probability) for a detection); raises
        Cancelled (its pending chunks dropped) when it is cancelled."""
        while not request.done.wait(CANCEL_POLL_SECONDS if request.cancel else None):
            if request.cancel is not None and request.cancel.is_set():
                self.withdraw(request)
        if request.error is not None:
            raise request.error
        return [r for r in request.results if r is not None]

    def withdraw(self, request: _Request) -> None:
        with self._cond:
            if request in self._queue:
                self._queue.remove(request)
        request.finish(Cancelled("transcription cancelled"))

    def queued_chunks(self) -> int:
        with self._cond:
            return sum(r.undispatched() for r in self._queue)

    def _windows(self, request: _Request, index: int) -> float:
        """What one chunk takes of a batch, in Whisper windows: one, or its share of a window when packed."""
        seconds = request.seconds(index)
        if request.key == DETECTION or not self.settings.pack_windows or seconds > self.settings.pack_max_chunk_seconds:
            return 1.0
        return (seconds + self.settings.pack_gap_seconds) / WINDOW_SECONDS

    def _queued_windows(self) -> float:
        return sum(self._windows(r, i) for r in self._queue for i in range(r.dispatched, len(r.spans)))

    # -- the scheduler thread ------------------------------------------------------------------------------
    def start(self) -> BatchScheduler:
        """``settings.workers`` scheduler threads, each deciding and decoding one batch at a time."""
        for index in range(self.settings.workers):
            thread = threading.Thread(target=self._loop, name=f"batch-{getattr(self.engine, 'name', '')}-{index}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pending, self._queue = self._queue, []
            self._cond.notify_all()
        for request in pending:
            request.finish(Cancelled("the model was unloaded"))
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()

    def step(self) -> int:
        """Decode one batch now, whatever the wait; returns its chunk count (0 when nothing is queued)."""
        with self._cond:
            picked = self._select(self.clock())
        if picked:
            self._run(picked)
        return len(picked)

    def _loop(self) -> None:
        while True:
            with self._cond:
                picked = self._next_when_ready()
                if picked is None:
                    return
            if picked:
                self._run(picked)

    def _next_when_ready(self) -> list[tuple[_Request, int]] | None:
        """Wait (holding the condition) until a batch is full or its oldest chunk has waited ``max_wait_ms``
        (``fill_wait_ms`` while other transcriptions are expected)."""
        while not self._closed:
            self._drop_cancelled()
            if not self._queue:
                self._cond.wait()
                continue
            now = self.clock()
            oldest = min(self._queue, key=lambda r: r.enqueued)
            due = oldest.enqueued + self._wait_seconds(detection=oldest.key == DETECTION)
            if now >= due or self._queued_windows() >= self.settings.max_batch:
                return self._select(now)
            self._cond.wait(due - now)
        return None

    def _wait_seconds(self, detection: bool = False) -> float:
        """How long the oldest queued chunk may wait for its batch (called holding the condition). A detection
        never waits for expected transcriptions: the one asking is itself still expected until its first chunks."""
        wait = self.settings.max_wait_ms
        if self._expected and not detection:
            wait = max(wait, self.settings.fill_wait_ms)
        return wait / 1000

    # -- choosing a batch ----------------------------------------------------------------------------------
    def _drop_cancelled(self) -> None:
        for request in [r for r in self._queue if r.cancel is not None and r.cancel.is_set()]:
            self._queue.remove(request)
            request.finish(Cancelled("transcription cancelled"))

    def _rank(self, request: _Request, now: float) -> int:
        boosted = request.priority == "job" and now - request.enqueued >= self.settings.job_boost_seconds
        return 0 if boosted else PRIORITY_RANK[request.priority]

    def _select(self, now: float) -> list[tuple[_Request, int]]:
        """(request, chunk index) pairs for one engine call, in the order they are laid out."""
        self._drop_cancelled()
        waiting = sorted((r for r in self._queue if r.undispatched()), key=lambda r: (self._rank(r, now), r.seq))
        if not waiting:
            return []
        head = waiting[0]
        compatible = [r for r in waiting if r.key == head.key]
        picked: list[tuple[_Request, int]] = []
        windows = 0.0
        jobs = 0
        for rank in sorted({self._rank(r, now) for r in compatible}):
            level = [r for r in compatible if self._rank(r, now) == rank]
            principals: dict[str, list[_Request]] = {}
            for r in level:  # principals in the order of their oldest request; their requests oldest first
                principals.setdefault(r.principal, []).append(r)
            while windows < self.settings.max_batch:
                took = False
                for requests in principals.values():
                    request = next((r for r in requests if r.undispatched()), None)
                    if request is None:
                        continue
                    share = self._windows(request, request.dispatched)
                    if picked and windows + share > self.settings.max_batch + 1e-9:  # float sums of shares
                        continue
                    if request.priority == "job" and rank > 0:
                        if jobs >= self.settings.max_job_chunks:
                            continue
                        jobs += 1
                    picked.append((request, request.dispatched))
                    request.dispatched += 1
                    windows += share
                    took = True
                if not took:
                    break
        for request in {id(r): r for r, _ in picked}.values():
            if not request.undispatched():
                self._queue.remove(request)  # fully handed out; its results arrive through the request itself
        return picked

    # -- decoding ------------------------------------------------------------------------------------------
    def _run(self, picked: list[tuple[_Request, int]]) -> None:
        now = self.clock()
        if self.observer is not None:
            self.observer.on_batch(len(picked), [(r.priority, now - r.enqueued) for r, _ in picked])
        try:
            if picked[0][0].key == DETECTION:
                results: list[ChunkText | tuple[str, float]] = list(
                    self.engine.detect_languages([r.pieces[i] for r, i in picked]))
            else:
                results = [_moved(result, r, i, position)
                           for (r, i), (result, position) in zip(picked, self._decode(picked), strict=True)]
        except BaseException as exc:  # noqa: BLE001 - every request of the batch gets the error, none hangs
            log.warning("batch of %d chunks failed: %s", len(picked), exc)
            for request in {id(r): r for r, _ in picked}.values():
                with self._cond:
                    if request in self._queue:
                        self._queue.remove(request)
                request.finish(exc)
            return
        for (request, index), result in zip(picked, results, strict=True):
            request.results[index] = result
        for request in {id(r): r for r, _ in picked}.values():
            with self._cond:  # with several workers, another batch may hold the request's other chunks
                complete = all(r is not None for r in request.results)
            if complete:
                request.finish()

    def _decode(self, picked: list[tuple[_Request, int]]) -> list[tuple[ChunkText, int]]:
        """Each picked chunk's result, and the sample where its audio starts in the array the engine was given
        (results are in that array's time). Packed windows first; chunks they could not split are packed once more,
        in another order, and those that still cannot be split are decoded alone."""
        pieces = [r.pieces[i] for r, i in picked]
        head = picked[0][0]
        decoded: list[tuple[ChunkText, int] | None] = [None] * len(picked)
        if self.settings.pack_windows:
            windows = self._packed(head, pieces, list(range(len(pieces))), decoded)
            failed = [k for k, d in enumerate(decoded) if d is None]
            for _ in range(self.settings.pack_rounds - 1):
                if len(failed) <= 2:
                    break
                # Most failures are a window's decoder stopping early: the text of its first few chunks, then the
                # end of the transcript, and nothing for the chunks after (17 of 19 failed chunks in 200, the
                # bench's 100 requests packed in two shuffled orders; 10 of 14 in three more). Packed again they
                # get another window's decode; the other two fail together when a word is timed across the gap
                # between them: laid out every other one first they are no longer neighbours (two alone would be
                # neighbours again). Each chunk decoded alone costs a whole 30-s window.
                windows += self._packed(head, pieces, failed[0::2] + failed[1::2], decoded)
                left = [k for k, d in enumerate(decoded) if d is None]
                if len(left) == len(failed):
                    break  # no progress: decode them alone
                failed = left
        else:
            windows = 0
        alone = [k for k, d in enumerate(decoded) if d is None]
        if self.settings.pack_windows and self.observer is not None:
            self.observer.on_packing(windows, len(picked), len(alone))
        if alone:
            log.debug("%d of %d packed chunks could not be split; decoding them alone", len(alone), len(picked))
            starts, results = self._call(head.language, head.options, [pieces[k] for k in alone])
            for k, start, result in zip(alone, starts, results, strict=True):
                decoded[k] = (result, start)
        return [d for d in decoded if d is not None]

    def _packed(self, head: _Request, pieces: list[np.ndarray], order: list[int],
                decoded: list[tuple[ChunkText, int] | None]) -> int:
        """Decode the chunks ``order`` names packed in windows (in that order); fill ``decoded`` for each chunk
        that could be split back. Returns the number of windows."""
        packs = plan_packs([len(pieces[k]) / SAMPLE_RATE for k in order], WINDOW_SECONDS,
                           self.settings.pack_gap_seconds, self.settings.pack_max_chunk_seconds)
        windows = [pack_audio([pieces[k] for k in order], pack) for pack in packs]
        # Splitting a packed window needs its word timings, whatever the requests asked for.
        options = head.options.with_(word_timestamps=True) if any(len(p.members) > 1 for p in packs) \
            else head.options
        starts, results = self._call(head.language, options, windows)
        for pack, start, window in zip(packs, starts, results, strict=True):
            shares = unpack(window, pack, start / SAMPLE_RATE)
            for member, region, share in zip(pack.members, pack.regions, shares, strict=True):
                if share is not None:
                    decoded[order[member]] = (share, start + round(region[0] * SAMPLE_RATE))
        return len(packs)

    def _call(self, language: str, options: TranscribeOptions,
              windows: list[np.ndarray]) -> tuple[list[int], list[ChunkText]]:
        """One engine call on windows laid one after another: where each starts (samples), and its result."""
        joined, starts, spans = lay_out(windows)
        results = list(self.engine.decode_chunks(joined, spans, language, options, 0.0))
        if len(results) != len(windows):
            raise RuntimeError(f"the engine returned {len(results)} results for {len(windows)} windows")
        return starts, results


def lay_out(pieces: Sequence[np.ndarray]) -> tuple[np.ndarray, list[int], list[Span]]:
    """Pieces laid one after another in one array: the array, where each piece starts in it (samples), and one span
    per piece, so that one engine call decodes each piece in a window of its own."""
    starts = list(itertools.accumulate((len(p) for p in pieces), initial=0))[:-1]
    spans = [((p + EDGE_SAMPLES) / SAMPLE_RATE, (p + len(piece) + EDGE_SAMPLES) / SAMPLE_RATE)
             for p, piece in zip(starts, pieces, strict=True)]
    return np.concatenate(pieces), starts, spans


def _moved(result: ChunkText, request: _Request, index: int, position: int) -> ChunkText:
    """A result in the joined array's time, put back in the request's own time."""
    shift = request.offset + (request.starts[index] - position) / SAMPLE_RATE
    start, end = request.spans[index]
    words = tuple(replace(w, start=round(w.start + shift, 3), end=round(w.end + shift, 3)) for w in result.words)
    return replace(result, span=(start + request.offset, end + request.offset), words=words)


class BatchedEngine:
    """One transcription's view of a shared engine: an ``ASREngine`` whose chunks go through the scheduler."""

    def __init__(self, scheduler: BatchScheduler, priority: Priority = "interactive", principal: str = "",
                 cancel: threading.Event | None = None) -> None:
        self.scheduler, self.priority, self.principal, self.cancel = scheduler, priority, principal, cancel
        self.name = scheduler.engine.name
        self._expected = False

    def expect(self) -> None:
        """Announce this transcription to the scheduler until its first chunks are queued (or ``close``)."""
        if not self._expected:
            self._expected = True
            self.scheduler.expect()

    def close(self) -> None:
        """The transcription is over: if it never submitted, it is no longer expected."""
        if self._expected:
            self._expected = False
            self.scheduler.arrived()

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        request = self.scheduler.submit_detection(audio, self.priority, self.principal, self.cancel)
        language, probability = self.scheduler.wait(request)[0]
        return language, probability

    def detect_languages(self, audios: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        requests = [self.scheduler.submit_detection(a, self.priority, self.principal, self.cancel) for a in audios]
        return [self.scheduler.wait(request)[0] for request in requests]

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        first, self._expected = self._expected, False
        request = self.scheduler.submit(audio, spans, language, options, offset, self.priority, self.principal,
                                        self.cancel, first=first)
        yield from self.scheduler.wait(request)

    def decode_piece(self, audio: np.ndarray, language: str, prompt: str) -> str:
        return self.scheduler.engine.decode_piece(audio, language, prompt)  # one short piece: not worth batching

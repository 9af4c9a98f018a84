"""Job uploads and results in the configured object store (a local folder, or S3 shared by API and workers).

Uploads get generated names (the client's file name never becomes a key). Results go under a prefix per
attempt, ``results/<job>/<attempt>/``, and the job store records which attempt won, so a late write by a lost
worker can never overwrite the accepted result. While an attempt runs, the same prefix holds the segments decoded
so far as JSON lines, so any API process (local or distributed) can stream them to clients.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from habla.asr.types import Segment, Transcript
from habla.errors import HablaError, JobConflict, ObjectMissing, StorageUnavailable
from habla.storage.local import LocalObjectStore
from habla.storage.protocol import ObjectStore

log = logging.getLogger(__name__)
T = TypeVar("T")

RESULT_BASENAME = "transcript"  # results stored one object per format (before RESULT_OBJECT)
RESULT_OBJECT = "result.json"
LIVE_SEGMENTS = "live-segments.jsonl"
# After a failed write of the live segments, the next try waits this long: each try against a store that does
# not answer costs a timeout, and the live view is only a preview.
LIVE_RETRY_SECONDS = 10.0
# Threads writing live segments, shared by the jobs of one process (one write in flight per job): a worker runs
# a few jobs at once (HABLA_JOBS__WORKERS, default 1).
LIVE_WRITERS = 4


def retry_store(seconds: float, work: Callable[[], T], what: str) -> T:
    """Run ``work``, retrying while the store is unavailable: exponential backoff (0.5 s doubling to 10 s)
    for up to ``seconds``, then StorageUnavailable goes to the caller."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

    retrying = Retrying(retry=retry_if_exception_type(StorageUnavailable), stop=stop_after_delay(seconds),
                        wait=wait_exponential(multiplier=0.5, max=10), reraise=True,
                        before_sleep=lambda state: log.warning("store unavailable (%s), try %d: retrying",
                                                               what, state.attempt_number))
    return retrying(work)


@dataclass
class _LiveObject:
    """The live segments of one running attempt."""

    name: str
    flushed: float  # when the last write started (later after a failure: the next waits longer)
    lines: list[bytes] = field(default_factory=list)
    writing: Future[None] | None = None  # the write in flight, or the last one
    written: bool = False  # an object may exist

    def idle(self) -> bool:
        return self.writing is None or self.writing.done()


class JobStorage:
    def __init__(self, objects: ObjectStore | Path, live_flush_seconds: float = 0.0) -> None:
        self.objects: ObjectStore = LocalObjectStore(objects) if isinstance(objects, Path) else objects
        self.live_flush_seconds = live_flush_seconds
        self._live: dict[tuple[str, int], _LiveObject] = {}  # running attempts' live segments
        self._live_writers: ThreadPoolExecutor | None = None  # made by the first running job
        self._live_lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The folder of a local store (tests and tools that look at files)."""
        path = self.objects.local_path("uploads")
        if path is None:
            raise JobConflict("the job storage is not a local folder")
        return path.parent

    def save_upload(self, stream: BinaryIO, max_bytes: int) -> str:
        """Stream an upload into the store under a new name; returns the name. Nothing is left behind on error."""
        name = f"uploads/{uuid.uuid4().hex}"
        self.objects.put(name, stream, max_bytes, hint="raise HABLA_JOBS__MAX_UPLOAD_MB")
        return name

    def path(self, name: str) -> Path:
        """A local store's file for ``name``, refusing anything that points outside the root."""
        try:
            path = self.objects.local_path(name)
        except HablaError:
            raise JobConflict(f"invalid storage path {name!r}") from None
        if path is None:
            raise JobConflict("the job storage is not a local folder")
        return path

    @contextmanager
    def audio_file(self, name: str) -> Iterator[Path]:
        """The upload as a file on this machine for the decoder (an S3 object is downloaded, then removed)."""
        with self.objects.local_copy(name) as path:
            yield path

    def write_results(self, job_id: str, attempt: int, transcript: Transcript) -> str:
        """Store one attempt's transcript as one object; returns the attempt's prefix.
        One object, not one per format: with S3 each object is a request, and six PUTs at once took 35 ms
        against 5 ms for one (moto on loopback, ``scripts/bench_storage.py results``); the formats are rendered
        when they are read (``read_result``). The JSON keeps the words even when the job did not ask for them:
        subtitles time long segments by their words. The live segments are removed after the result is recorded
        (``finish_live``), not here: the job is done one request sooner."""
        from habla.formats.protocol import WriterOptions
        from habla.formats.registry import render

        name = f"results/{job_id}/{attempt}"
        data = render(transcript, "json", WriterOptions(word_timestamps=True)).encode()
        self.objects.put_bytes(f"{name}/{RESULT_OBJECT}", data)
        return name

    @contextmanager
    def live_segments(self, job_id: str, attempt: int) -> Iterator[Callable[[Segment], None]]:
        """An appender for the segments of a running attempt, one JSON line each. An object cannot be appended
        to, so the whole list is rewritten, at most every ``live_flush_seconds``, in the background: decoding
        never waits for the store (a PUT to S3 took 25-35 ms on this machine), and a write still in flight
        when the next is due is skipped, not queued. Earlier attempts' objects (a worker killed mid-job) are
        removed first. A store that fails here only costs the live view: the result is what counts.
        After the attempt, ``finish_live`` (result recorded) or ``settle_live`` (attempt dropped) follows."""
        from habla.formats.json import segment_dict

        if attempt > 1:
            self._forget_earlier_attempts(job_id, attempt)
        # The first write waits a flush interval too: a short job writes no live object at all (and needs no
        # delete of one).
        live = _LiveObject(f"results/{job_id}/{attempt}/{LIVE_SEGMENTS}", time.monotonic())
        self._live[(job_id, attempt)] = live

        def append(segment: Segment) -> None:
            live.lines.append(json.dumps(segment_dict(segment), ensure_ascii=False).encode() + b"\n")
            now = time.monotonic()
            if now - live.flushed >= self.live_flush_seconds and live.idle():
                live.flushed = now
                live.writing = self._live_pool().submit(self._write_live, live, b"".join(live.lines), job_id)

        try:
            yield append  # what is still unflushed at the end is in the result, written next
        except BaseException:
            self.settle_live(job_id, attempt)  # before the runner discards the attempt's objects
            raise

    def _live_pool(self) -> ThreadPoolExecutor:
        with self._live_lock:
            if self._live_writers is None:
                self._live_writers = ThreadPoolExecutor(LIVE_WRITERS, thread_name_prefix="habla-live")
            return self._live_writers

    def _write_live(self, live: _LiveObject, data: bytes, job_id: str) -> None:
        try:
            self.objects.put_bytes(live.name, data)
            live.written = True
        except HablaError as exc:
            log.warning("job %s: live segments not stored: %s", job_id, exc)
            live.flushed = time.monotonic() + LIVE_RETRY_SECONDS  # a store that does not answer: try less often

    def settle_live(self, job_id: str, attempt: int) -> bool:
        """The attempt's live segments are final: wait for a write still in flight (so none lands after what
        follows). Returns whether a live object may exist (unknown attempts: True)."""
        live = self._live.pop((job_id, attempt), None)
        if live is None:
            return True
        if live.writing is not None:
            wait([live.writing])
        return live.written

    def finish_live(self, job_id: str, attempt: int) -> None:
        """After the attempt's result is recorded: its live segments go (a failing store leaves them to retention,
        which deletes the job's prefix)."""
        if not self.settle_live(job_id, attempt):
            return
        try:
            self.objects.delete(f"results/{job_id}/{attempt}/{LIVE_SEGMENTS}")
        except HablaError as exc:
            log.warning("job %s: live segments not removed: %s", job_id, exc)

    def _forget_earlier_attempts(self, job_id: str, attempt: int) -> None:
        for job, earlier in [key for key in self._live if key[0] == job_id and key[1] < attempt]:
            self.settle_live(job, earlier)  # an attempt that ran here: its last write lands first
        try:
            for name in self.objects.list(f"results/{job_id}/"):
                number = name.split("/")[2]
                if number.isdigit() and int(number) < attempt:
                    self.objects.delete(name)
        except StorageUnavailable as exc:
            log.warning("job %s: earlier attempts not cleared: %s", job_id, exc)

    def read_live_segments(self, job_id: str, attempt: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The whole segments appended after byte ``offset``, and the offset to read from next time."""
        try:
            data = self.objects.read_bytes(f"results/{job_id}/{attempt}/{LIVE_SEGMENTS}", offset)
        except ObjectMissing:
            return [], offset
        complete = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        return [json.loads(line) for line in data[:complete].splitlines() if line], offset + complete

    def result_object(self, result_dir: str) -> str:
        """The stored transcript of an attempt (the JSON with words), which every format is rendered from."""
        return f"{result_dir}/{RESULT_OBJECT}"

    def read_result(self, result_dir: str, fmt: str, word_timestamps: bool = False) -> str:
        """One format of an attempt's result, rendered from its stored transcript. Results stored before the
        transcript became one object (one object per format) are read as they were written."""
        from habla.formats import get_writer
        from habla.formats.protocol import WriterOptions
        from habla.formats.registry import render

        ext = get_writer(fmt).extension
        try:
            stored = self.objects.read_bytes(self.result_object(result_dir))
        except ObjectMissing:
            return self._read_result_file(f"{result_dir}/{RESULT_BASENAME}.{ext}")
        transcript = Transcript.from_dict(json.loads(stored))
        return render(transcript, ext, WriterOptions(word_timestamps=word_timestamps))

    def _read_result_file(self, name: str) -> str:
        try:
            return self.objects.read_bytes(name).decode("utf-8")
        except ObjectMissing:
            raise JobConflict(f"the {name.rsplit('.', 1)[-1]} result is missing",
                              hint="retention may have removed it") from None

    def discard(self, name: str | None) -> None:
        """Remove an upload or an attempt's results (missing is fine)."""
        if not name:
            return
        if name.startswith("results/"):
            self.objects.delete_prefix(name)
        else:
            self.objects.delete(name)

    def discard_job(self, job_id: str, upload: str | None) -> None:
        if upload:
            self.objects.delete(upload)
        self.objects.delete_prefix(f"results/{job_id}")

"""Job uploads and results in the configured object store (a local folder, or S3 shared by API and workers).

Uploads get generated names (the client's file name never becomes a key). Results go under a prefix per
attempt, ``results/<job>/<attempt>/``, and the job store records which attempt won, so a late write by a lost
worker can never overwrite the accepted result. While an attempt runs, the same prefix holds the segments decoded
so far as JSON lines, so any API process (local or distributed) can stream them to clients.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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


def retry_store(seconds: float, work: Callable[[], T], what: str) -> T:
    """Run ``work``, retrying while the store is unavailable: exponential backoff (0.5 s doubling to 10 s)
    for up to ``seconds``, then StorageUnavailable goes to the caller."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

    retrying = Retrying(retry=retry_if_exception_type(StorageUnavailable), stop=stop_after_delay(seconds),
                        wait=wait_exponential(multiplier=0.5, max=10), reraise=True,
                        before_sleep=lambda state: log.warning("store unavailable (%s), try %d: retrying",
                                                               what, state.attempt_number))
    return retrying(work)


class JobStorage:
    def __init__(self, objects: ObjectStore | Path, live_flush_seconds: float = 0.0) -> None:
        self.objects: ObjectStore = LocalObjectStore(objects) if isinstance(objects, Path) else objects
        self.live_flush_seconds = live_flush_seconds
        self._live_written: dict[tuple[str, int], bool] = {}  # (job, attempt) → a live object may exist

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
        """Store one attempt's transcript as one object; returns the attempt's prefix. The live segments go.
        One object, not one per format: with S3 each object is a request, and six PUTs at once took 35 ms
        against 5 ms for one (moto on loopback, ``scripts/bench_storage.py results``); the formats are rendered
        when they are read (``read_result``). The JSON keeps the words even when the job did not ask for them:
        subtitles time long segments by their words."""
        from habla.formats.protocol import WriterOptions
        from habla.formats.registry import render

        name = f"results/{job_id}/{attempt}"
        data = render(transcript, "json", WriterOptions(word_timestamps=True)).encode()
        if not self._live_written.pop((job_id, attempt), True):
            self.objects.put_bytes(f"{name}/{RESULT_OBJECT}", data)
            return name
        # The live segments' delete alongside, not after: with S3 each is a round trip.
        with ThreadPoolExecutor(2, thread_name_prefix="habla-results") as pool:
            work = [pool.submit(self.objects.put_bytes, f"{name}/{RESULT_OBJECT}", data),
                    pool.submit(self.objects.delete, f"{name}/{LIVE_SEGMENTS}")]
            for done in work:
                done.result()
        return name

    @contextmanager
    def live_segments(self, job_id: str, attempt: int) -> Iterator[Callable[[Segment], None]]:
        """An appender for the segments of a running attempt, one JSON line each. An object cannot be appended
        to, so the whole list is rewritten, at most every ``live_flush_seconds``.
        Earlier attempts' objects (a worker killed mid-job) are removed first. A store that fails here only
        costs the live view: the result is what counts."""
        from habla.formats.json import segment_dict

        name = f"results/{job_id}/{attempt}/{LIVE_SEGMENTS}"
        if attempt > 1:
            self._forget_earlier_attempts(job_id, attempt)
        lines: list[bytes] = []
        # The first write waits a flush interval too: a short job writes no live object at all (and its result
        # needs no delete of one), which keeps the job overhead with S3 low.
        state = {"flushed": time.monotonic()}
        self._live_written[(job_id, attempt)] = False

        def flush() -> None:
            try:
                self.objects.put_bytes(name, b"".join(lines))
                self._live_written[(job_id, attempt)] = True
                state["flushed"] = time.monotonic()
            except StorageUnavailable as exc:
                log.warning("job %s: live segments not stored: %s", job_id, exc)
                state["flushed"] = time.monotonic() + LIVE_RETRY_SECONDS  # don't stall the decoding on each one

        def append(segment: Segment) -> None:
            lines.append(json.dumps(segment_dict(segment), ensure_ascii=False).encode() + b"\n")
            if time.monotonic() - state["flushed"] >= self.live_flush_seconds:
                flush()

        try:
            yield append  # what is still unflushed at the end is in the result, written next
        except BaseException:
            self._live_written.pop((job_id, attempt), None)  # the runner discards the attempt's objects
            raise

    def _forget_earlier_attempts(self, job_id: str, attempt: int) -> None:
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

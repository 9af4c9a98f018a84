"""Uploads and results on disk, under one root shared by the API and every worker.

Uploads get generated names (the client's file name never touches the file system). Results go to a folder
per attempt, ``results/<job>/<attempt>/``, and the store records which attempt won, so a late write by a
lost worker can never overwrite the accepted result. While an attempt runs, the same folder holds the segments
decoded so far as JSON lines, so any API process (local or distributed) can stream them to clients.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from habla.asr.types import Segment, Transcript
from habla.errors import JobConflict, UploadTooLarge

CHUNK = 1 << 20
RESULT_BASENAME = "transcript"
LIVE_SEGMENTS = "live-segments.jsonl"


def copy_limited(stream: BinaryIO, path: Path, max_bytes: int, hint: str, sync: bool = False) -> int:
    """Copy ``stream`` to ``path`` in chunks, refusing more than ``max_bytes``; returns the size written.

    With ``sync`` the file is on disk before this returns (a database row that points at it is committed next).
    On any error the partial file is removed.
    """
    size = 0
    try:
        with open(path, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"the upload is larger than {max_bytes >> 20} MB", hint=hint)
                out.write(chunk)
            if sync:
                out.flush()
                os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size


class JobStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "uploads").mkdir(parents=True, exist_ok=True)
        (self.root / "results").mkdir(parents=True, exist_ok=True)

    def save_upload(self, stream: BinaryIO, max_bytes: int) -> str:
        """Copy an upload to a new file; returns its storage-relative name. Nothing is left behind on error."""
        name = f"uploads/{uuid.uuid4().hex}"
        path = self.root / name
        tmp = path.with_suffix(".part")
        try:
            copy_limited(stream, tmp, max_bytes, hint="raise HABLA_JOBS__MAX_UPLOAD_MB", sync=True)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return name

    def path(self, name: str) -> Path:
        """Resolve a storage-relative name, refusing anything that points outside the root."""
        root = self.root.resolve()
        path = (root / name).resolve()
        if root not in path.parents:
            raise JobConflict(f"invalid storage path {name!r}")
        return path

    def write_results(self, job_id: str, attempt: int, transcript: Transcript, word_timestamps: bool = False) -> str:
        """Write every format for one attempt; returns the folder's storage-relative name."""
        from habla.formats import write_files
        from habla.formats.protocol import WriterOptions

        name = f"results/{job_id}/{attempt}"
        folder = self.path(name)
        shutil.rmtree(folder, ignore_errors=True)  # a half-written folder of this same attempt
        write_files(transcript, folder, RESULT_BASENAME, "all", WriterOptions(word_timestamps=word_timestamps))
        return name

    @contextmanager
    def live_segments(self, job_id: str, attempt: int) -> Iterator[Callable[[Segment], None]]:
        """An appender for the segments of a running attempt, one JSON line each, flushed at once. The final
        ``write_results`` of the attempt replaces the folder, so a finished job serves only its result."""
        from habla.formats.json import segment_dict

        path = self.path(f"results/{job_id}/{attempt}/{LIVE_SEGMENTS}")
        path.parent.mkdir(parents=True, exist_ok=True)
        for earlier in path.parent.parent.iterdir():  # left by an attempt whose worker was killed mid-job
            if earlier.name.isdigit() and int(earlier.name) < attempt:
                shutil.rmtree(earlier, ignore_errors=True)
        with open(path, "w", encoding="utf-8") as out:
            def append(segment: Segment) -> None:
                out.write(json.dumps(segment_dict(segment), ensure_ascii=False) + "\n")
                out.flush()

            yield append

    def read_live_segments(self, job_id: str, attempt: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The whole segments appended after byte ``offset``, and the offset to read from next time."""
        try:
            with open(self.path(f"results/{job_id}/{attempt}/{LIVE_SEGMENTS}"), "rb") as live:
                live.seek(offset)
                data = live.read()
        except FileNotFoundError:
            return [], offset
        complete = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        return [json.loads(line) for line in data[:complete].splitlines() if line], offset + complete

    def read_result(self, result_dir: str, fmt: str) -> str:
        from habla.formats import get_writer

        ext = get_writer(fmt).extension
        path = self.path(f"{result_dir}/{RESULT_BASENAME}.{ext}")
        if not path.is_file():
            raise JobConflict(f"the {ext} result is missing", hint="retention may have removed it")
        return path.read_text(encoding="utf-8")

    def discard(self, name: str | None) -> None:
        """Remove an upload or a results folder (missing is fine)."""
        if not name:
            return
        path = self.path(name)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        if path.parent.parent == self.path("results"):  # an attempt's folder: its job's goes once empty
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    def discard_job(self, job_id: str, upload: str | None) -> None:
        self.discard(upload)
        self.discard(f"results/{job_id}")

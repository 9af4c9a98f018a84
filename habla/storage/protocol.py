"""The object store protocol: names are relative, slash-separated keys chosen by habla (never by a client)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from habla.errors import InvalidOption, UploadTooLarge

CHUNK = 1 << 20
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


def check_name(name: str) -> str:
    """Refuse names that could leave the store's root or its prefix (``..``, absolute, odd characters)."""
    if not _NAME.match(name) or any(part in ("..", ".") for part in name.split("/")):
        raise InvalidOption(f"invalid storage name {name!r}")
    return name


@dataclass
class ObjectRead:
    """An open object, or a byte range of it: ``chunks`` streams it, ``size`` is the whole object's length."""

    chunks: Iterator[bytes]
    size: int
    start: int = 0
    end: int = 0  # inclusive, as in Content-Range
    close: object = field(default=None, repr=False)

    @property
    def partial(self) -> bool:
        return self.start > 0 or self.end < self.size - 1

    def release(self) -> None:
        if callable(self.close):
            self.close()


class LimitedReader:
    """A read-only stream that raises UploadTooLarge once more than ``max_bytes`` went through it."""

    def __init__(self, stream: BinaryIO, max_bytes: int | None, hint: str) -> None:
        self.stream, self.max_bytes, self.hint = stream, max_bytes, hint
        self.size = 0

    def read(self, n: int | None = -1) -> bytes:
        """Up to ``n`` bytes, fewer only at the end (boto3 takes a short read for the end of the stream)."""
        want = n if n is not None and n >= 0 else CHUNK
        parts, got = [], 0
        while got < want and (part := self.stream.read(want - got)):
            parts.append(part)
            got += len(part)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise UploadTooLarge(f"the upload is larger than {self.max_bytes >> 20} MB", hint=self.hint)
        return data


class ObjectWriter(Protocol):
    """One object written in blocks, in order: nothing is visible under its name until ``commit``, and ``abort``
    (or a killed writer) leaves no object. ``block_bytes`` is the size ``write`` wants (at least; S3 parts)."""

    block_bytes: int
    # Blocks handed to ``write`` that the writer may still read once ``ready`` has returned (0: a block is written
    # when ``write`` returns). A caller may refill any other block it handed over, e.g. a ring of blocks_kept + 1.
    blocks_kept: int

    def ready(self) -> None:
        """Wait until ``write`` would not block (a caller that copies its block only then holds one block less)."""
        ...

    def write(self, block: bytes | bytearray) -> None:
        """Hand over the next block; may return before it is stored, and blocks while too many are in flight."""
        ...

    def commit(self, last: bytes = b"") -> None:
        """Store ``last`` (any size) as the end of the object and make the whole object visible."""
        ...

    def abort(self) -> None:
        """Drop everything written so far (never raises for a store that does not answer)."""
        ...


def write_stream(writer: ObjectWriter, stream: BinaryIO, max_bytes: int | None = None, hint: str = "") -> int:
    """Copy ``stream`` into ``writer`` block by block and commit; on any error the writer is aborted."""
    reader = LimitedReader(stream, max_bytes, hint)
    try:
        block = reader.read(writer.block_bytes)
        # One byte read ahead tells whether a full block is the last (a single PutObject) before it is sent.
        while len(block) == writer.block_bytes and (more := reader.read(1)):
            writer.write(block)
            block = more + reader.read(writer.block_bytes - 1)
        writer.commit(block)
    except BaseException:
        writer.abort()
        raise
    return reader.size


class ObjectStore(Protocol):
    """Put, get, list and delete whole objects. A ``put`` is atomic: readers see the old object or the whole new
    one, never part of it, also when the writer is killed midway."""

    description: str  # for logs and /healthz, without secrets

    def put(self, name: str, stream: BinaryIO, max_bytes: int | None = None, hint: str = "") -> int:
        """Stream ``stream`` into ``name`` in bounded memory; UploadTooLarge past ``max_bytes``. Returns the size."""
        ...

    def writer(self, name: str) -> ObjectWriter:
        """Write ``name`` block by block (an upload parsed from a request as it arrives)."""
        ...

    def put_bytes(self, name: str, data: bytes) -> None: ...

    def put_file(self, name: str, path: Path) -> None: ...

    def open(self, name: str, start: int = 0, end: int | None = None) -> ObjectRead:
        """Stream an object, or bytes ``start``..``end`` (inclusive) of it; ObjectMissing if it does not exist."""
        ...

    def read_bytes(self, name: str, offset: int = 0) -> bytes:
        """The object's bytes from ``offset`` on (empty past its end); ObjectMissing if it does not exist."""
        ...

    def exists(self, name: str) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """Names of the objects under ``prefix`` (a folder-like prefix ending in ``/``, or a name prefix)."""
        ...

    def delete(self, *names: str) -> None:
        """Delete objects; missing ones are fine."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix/``; returns how many."""
        ...

    def local_path(self, name: str) -> Path | None:
        """The object as a file on this machine, when the store is a local folder; None otherwise."""
        ...

    def local_copy(self, name: str) -> AbstractContextManager[Path]:
        """A file on this machine with the object's bytes, for libraries that need a path (removed after)."""
        ...

    def presigned_url(self, name: str, expires_seconds: int, filename: str | None = None,
                      media_type: str | None = None) -> str | None:
        """A time-limited URL a client can GET the object from directly; None when the store has none."""
        ...

    def check(self) -> None:
        """Raise StorageMisconfigured (credentials, bucket) or StorageUnavailable (unreachable) now."""
        ...

"""The streaming multipart parser (habla/server/uploads.py) on its own: bodies cut into odd chunks, fields before
and after the file, the size limit while streaming, and what is left behind on failure."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from habla.errors import UploadTooLarge
from habla.server.uploads import ReceivedUpload, StoreUploads, StreamingMultipartParser
from habla.storage.local import LocalObjectStore

BOUNDARY = "habla-test-boundary"
HEADERS = Headers({"content-type": f"multipart/form-data; boundary={BOUNDARY}"})


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def parse(data: bytes, store: LocalObjectStore, max_bytes: int = 1 << 30, chunk: int = 7777
          ) -> tuple[StreamingMultipartParser, dict[str, object]]:
    parser = StreamingMultipartParser(HEADERS, StoreUploads(store, max_bytes, "raise the limit"), max_files=10,
                                      max_fields=10, max_part_size=1 << 20)
    form = asyncio.run(parser.parse(chunks(data, chunk)))
    return parser, dict(form.multi_items())


def stored(store: LocalObjectStore) -> list[str]:
    return store.list("uploads/")


@pytest.mark.parametrize("chunk", [1, 13, 65536])
def test_file_bytes_reach_the_store_whatever_the_chunks(tmp_path: Path, chunk: int) -> None:
    audio = os.urandom((3 << 20) + 17)  # three 1 MB blocks and a tail
    store = LocalObjectStore(tmp_path)
    data = body(("model", None, b"whisper-1"), ("file", "a.wav", audio), ("language", None, "español".encode()))
    if chunk == 1:
        data = body(("model", None, b"m"), ("file", "a.wav", audio[:3000]), ("language", None, b"en"))
        audio = audio[:3000]
    _, form = parse(data, store, chunk=chunk)
    upload = form["file"]
    assert isinstance(upload, ReceivedUpload)
    assert upload.filename == "a.wav" and upload.size == len(audio) and bytes(upload.head) == audio[:1 << 20]
    assert store.read_bytes(upload.name) == audio
    assert form["language"] == ("español" if chunk != 1 else "en")


def test_the_size_limit_stops_the_stream_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    with pytest.raises(UploadTooLarge, match="larger than 1 MB"):
        parse(body(("file", "big.wav", b"x" * ((1 << 20) + 1))), store, max_bytes=1 << 20)
    assert stored(store) == []
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no temporary part either


def test_a_broken_body_aborts_the_upload(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    broken = body(("file", "a.wav", b"y" * (2 << 20)))[:-200]
    _, form = parse(broken, store)
    # A body that ends inside the file part: the part is not in the form and its writer was aborted.
    assert "file" not in form
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    with pytest.raises(HTTPException) as refused:
        parse(b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n", store)
    assert refused.value.status_code == 400 and "name" in str(refused.value.detail)


class LazyWriter:
    """Holds on to ``blocks_kept`` handed-over blocks and reads them only later (as S3 part uploads in flight do):
    a parser that refilled a block still held would store the wrong bytes."""

    block_bytes = 1000

    def __init__(self, kept: int) -> None:
        self.blocks_kept = kept
        self.held: list[bytes | bytearray] = []
        self.out = bytearray()

    def ready(self) -> None:
        while len(self.held) > self.blocks_kept:
            self.out += self.held.pop(0)

    def write(self, block: bytes) -> None:
        assert len(block) == self.block_bytes
        self.ready()
        self.held.append(block)

    def commit(self, last: bytes = b"") -> None:
        for block in self.held:
            self.out += block
        self.out += last

    def abort(self) -> None:
        self.held.clear()


class LazyDestination:
    max_bytes, hint = 1 << 30, ""

    def __init__(self, kept: int) -> None:
        self.writer = LazyWriter(kept)

    def open(self) -> tuple[str, LazyWriter]:
        return "lazy", self.writer

    def discard(self, name: str) -> None:
        pass


@pytest.mark.parametrize("kept", [0, 1, 3])
def test_reused_blocks_are_refilled_only_once_the_writer_let_go_of_them(kept: int) -> None:
    audio = os.urandom(25_017)  # 25 blocks and a tail
    destination = LazyDestination(kept)
    parser = StreamingMultipartParser(HEADERS, destination, max_files=10, max_fields=10, max_part_size=1 << 20)
    asyncio.run(parser.parse(chunks(body(("file", "a.wav", audio)), 333)))
    assert bytes(destination.writer.out) == audio

"""Multipart uploads parsed as they arrive: file bytes go straight to their destination (the object store for
jobs, a temp file for a transcription or a tutor turn) in bounded blocks, never spooled whole first.

Starlette's own parser writes every file part to a spooled temp file before the endpoint runs; the endpoint then
copied it again into the store. Here an upload route (``route_class=UploadRoute`` and ``@uploads_to(...)`` on the
endpoint) gets a Request whose ``form()`` streams ``request.stream()`` through python-multipart's parser and writes
each file part through an ObjectWriter as the body arrives: memory is one block plus what the writer has in flight
(S3: part × concurrency), whatever the size, and the size limit is checked on every chunk. The other form fields
are collected as usual, so FastAPI validates them with the same errors as before. Authentication ran earlier, in
the AuthGate middleware, so an anonymous body is never read.

A file part becomes a ReceivedUpload: the stored name, its size and its first bytes. The endpoint ``claim()``s it;
whatever is not claimed when the endpoint returns or fails (a bad form field, a refused job) is deleted.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import Request, Response, UploadFile
from fastapi.routing import APIRoute
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException

from habla.errors import HablaError, StorageFull, UploadTooLarge
from habla.storage import ObjectStore
from habla.storage.protocol import ObjectWriter

HEAD_BYTES = 1 << 20  # kept in memory: enough to check the header of any common audio file without reading it back
TEMP_BLOCK = 1 << 20  # a temp file is written in 1 MB blocks (one thread hop each)
UPLOAD_DESTINATION = "__habla_upload_destination__"

F = TypeVar("F", bound=Callable[..., Any])


class UploadDestination(Protocol):
    """Where the file parts of one request go."""

    max_bytes: int
    hint: str  # how to raise the limit, for the 413

    def open(self) -> tuple[str, ObjectWriter]:
        """A new name and the writer that fills it."""
        ...

    def discard(self, name: str) -> None: ...


DestinationFactory = Callable[[Request], Awaitable[UploadDestination]]


class StoreUploads:
    """File parts become objects ``uploads/<random>`` of an ObjectStore (jobs: the store the workers read)."""

    def __init__(self, store: ObjectStore, max_bytes: int, hint: str) -> None:
        self.store, self.max_bytes, self.hint = store, max_bytes, hint

    def open(self) -> tuple[str, ObjectWriter]:
        name = f"uploads/{uuid.uuid4().hex}"
        return name, self.store.writer(name)

    def discard(self, name: str) -> None:
        self.store.delete(name)


class TempFiles:
    """File parts become temp files with generated names (the client's file name is never a path)."""

    def __init__(self, max_bytes: int, hint: str) -> None:
        self.max_bytes, self.hint = max_bytes, hint

    def open(self) -> tuple[str, ObjectWriter]:
        fd, name = tempfile.mkstemp(prefix="habla-upload-", suffix=".bin")
        return name, TempFileWriter(fd, Path(name))

    def discard(self, name: str) -> None:
        Path(name).unlink(missing_ok=True)


class TempFileWriter:
    """A temp file read once by this process: no fsync, no rename."""

    block_bytes = TEMP_BLOCK
    blocks_kept = 0

    def __init__(self, fd: int, path: Path) -> None:
        self.out, self.path = os.fdopen(fd, "wb"), path

    def ready(self) -> None:
        """Writes never wait."""

    def write(self, block: bytes | bytearray) -> None:
        self.out.write(block)

    def commit(self, last: bytes = b"") -> None:
        self.out.write(last)
        self.out.close()

    def abort(self) -> None:
        self.out.close()
        self.path.unlink(missing_ok=True)


class ReceivedUpload(UploadFile):
    """A file part already written to its destination while the body was read. ``file`` is empty: use ``name``
    (the object or temp file), ``size`` and ``head`` (its first HEAD_BYTES)."""

    def __init__(self, filename: str, headers: Headers, destination: UploadDestination) -> None:
        super().__init__(file=io.BytesIO(), size=0, filename=filename, headers=headers)
        self.destination = destination
        self.name = ""
        self.head = bytearray()
        self.claimed = False

    def claim(self) -> str:
        """Take ownership of the stored object (the request will not delete it); returns its name."""
        self.claimed = True
        return self.name


def received(upload: UploadFile) -> ReceivedUpload:
    """The upload of a route declared with ``uploads_to`` (a programming error otherwise)."""
    if not isinstance(upload, ReceivedUpload):
        raise TypeError("this route must be declared with @uploads_to and route_class=UploadRoute")
    return upload


class _FilePart:
    """One file part on its way: buffers up to a block, then hands it to the writer in a thread.

    Blocks are copied into a ring of ``blocks_kept + 1`` buffers of exactly ``block_bytes`` that the upload reuses:
    a fresh 8 MB block per S3 part (one b"".join each) was a fresh mmap, 2 048 page faults, and made the API's
    remaining 25 000 minor faults per 100 MB uploaded (bench_storage.py upload, docs/storage.md)."""

    def __init__(self, upload: ReceivedUpload) -> None:
        self.upload = upload
        self.writer: ObjectWriter | None = None
        self.chunks: list[bytes] = []  # received since the last block, as they came
        self.buffered = 0
        self.finished = False
        self.ring: list[bytearray] = []
        self.turn = 0

    async def _writer(self) -> ObjectWriter:
        if self.writer is None:
            self.upload.name, writer = await run_in_threadpool(self.upload.destination.open)
            self.writer = writer
            return writer
        return self.writer

    async def feed(self, data: bytes) -> None:
        upload, destination = self.upload, self.upload.destination
        upload.size = (upload.size or 0) + len(data)
        if upload.size > destination.max_bytes:
            raise UploadTooLarge(f"the upload is larger than {destination.max_bytes >> 20} MB", hint=destination.hint)
        if len(upload.head) < HEAD_BYTES:
            upload.head += data[:HEAD_BYTES - len(upload.head)]
        self.chunks.append(data)
        self.buffered += len(data)
        writer = await self._writer()
        while self.buffered > writer.block_bytes:  # more than a block: the upload goes on past it
            await run_in_threadpool(writer.ready)  # fill a block only once the writer let go of it
            await run_in_threadpool(writer.write, self._block(writer))

    def _block(self, writer: ObjectWriter) -> bytearray:
        """The next ring buffer filled with the first ``block_bytes`` received (one copy); the rest stays."""
        size = writer.block_bytes
        if len(self.ring) <= writer.blocks_kept:
            self.ring.append(bytearray(size))
        block = self.ring[self.turn % len(self.ring)]
        self.turn += 1
        view, at = memoryview(block), 0
        while at < size:
            chunk = self.chunks.pop(0)
            take = min(len(chunk), size - at)
            view[at:at + take] = chunk[:take] if take < len(chunk) else chunk
            if take < len(chunk):
                self.chunks.insert(0, chunk[take:])
            at += take
        self.buffered -= size
        return block

    async def finish(self) -> None:
        writer = await self._writer()
        last, self.chunks, self.buffered = b"".join(self.chunks), [], 0
        await run_in_threadpool(writer.commit, last)
        self.finished = True

    async def abort(self) -> None:
        if self.writer is not None:
            await run_in_threadpool(self.writer.abort)


class StreamingMultipartParser:
    """multipart/form-data → FormData, with file parts streamed to ``destination`` (Starlette's MultiPartParser,
    except for where file bytes go). Limits and 400 messages are Starlette's."""

    def __init__(self, headers: Headers, destination: UploadDestination, *, max_files: int | float,
                 max_fields: int | float, max_part_size: int) -> None:
        self.headers, self.destination = headers, destination
        self.max_files, self.max_fields, self.max_part_size = max_files, max_fields, max_part_size
        self.items: list[tuple[str, str | StarletteUpload]] = []
        self.files: list[_FilePart] = []
        self.charset = "utf-8"
        self._header_name, self._header_value = b"", b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._disposition = b""
        self._field_name = ""
        self._data = bytearray()
        self._file: _FilePart | None = None
        self._to_write: list[tuple[_FilePart, bytes]] = []
        self._to_finish: list[_FilePart] = []
        self._fields = 0

    def _decode(self, value: bytes) -> str:
        try:
            return value.decode(self.charset)
        except UnicodeDecodeError:
            return value.decode("latin-1")

    def on_part_begin(self) -> None:
        self._headers, self._disposition, self._data, self._file = [], b"", bytearray(), None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        field = self._header_name.lower()
        if field == b"content-disposition":
            self._disposition = self._header_value
        self._headers.append((field, self._header_value))
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise HTTPException(400, 'The Content-Disposition header field "name" must be provided.')
        self._field_name = self._decode(options[b"name"])
        if b"filename" in options:
            if len(self.files) >= self.max_files:
                raise HTTPException(400, f"Too many files. Maximum number of files is {self.max_files}.")
            upload = ReceivedUpload(self._decode(options[b"filename"]), Headers(raw=self._headers), self.destination)
            self._file = _FilePart(upload)
            self.files.append(self._file)
        else:
            self._fields += 1
            if self._fields > self.max_fields:
                raise HTTPException(400, f"Too many fields. Maximum number of fields is {self.max_fields}.")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._to_write.append((self._file, data[start:end]))
            return
        if len(self._data) + end - start > self.max_part_size:
            raise HTTPException(400, f"Part exceeded maximum size of {int(self.max_part_size / 1024)}KB.")
        self._data += data[start:end]

    def on_part_end(self) -> None:
        if self._file is None:
            self.items.append((self._field_name, self._decode(bytes(self._data))))
        else:
            self._to_finish.append(self._file)
            self.items.append((self._field_name, self._file.upload))

    async def parse(self, stream: Any) -> FormData:
        _, params = parse_options_header(self.headers["Content-Type"])
        self.charset = params.get(b"charset", b"utf-8").decode("latin-1")
        if b"boundary" not in params:
            raise HTTPException(400, "Missing boundary in multipart.")
        callbacks: Any = {name: getattr(self, name) for name in (
            "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished")}
        parser = MultipartParser(params[b"boundary"], callbacks)
        try:
            async for chunk in stream:
                parser.write(chunk)
                for part, data in self._to_write:
                    await part.feed(data)
                for part in self._to_finish:
                    await part.finish()
                self._to_write.clear()
                self._to_finish.clear()
            parser.finalize()
        except BaseException as exc:
            await self._abort(self.files)
            if isinstance(exc, FormParserError):
                raise HTTPException(400, "Invalid multipart data.") from exc
            raise
        await self._abort(self.files)  # a body that ended inside a part
        return FormData(self.items)

    @staticmethod
    async def _abort(parts: list[_FilePart]) -> None:
        """Abort the parts still being written; finished ones are deleted by the request (discard_unclaimed)."""
        for part in parts:
            if not part.finished:
                await part.abort()
                part.upload.claimed = True  # nothing is left to delete


class StreamingRequest(Request):
    """A Request whose multipart ``form()`` streams file parts to ``destination`` (see the module docstring)."""

    def __init__(self, request: Request, destination: DestinationFactory) -> None:
        super().__init__(request.scope, request.receive, request._send)
        self.destination = destination
        self.parsed: StreamingMultipartParser | None = None

    async def _get_form(self, *, max_files: int | float = 1000, max_fields: int | float = 1000,
                        max_part_size: int = 1024 * 1024) -> FormData:
        content_type, _ = parse_options_header(self.headers.get("Content-Type"))
        if self._form is not None or content_type != b"multipart/form-data":
            return await super()._get_form(max_files=max_files, max_fields=max_fields, max_part_size=max_part_size)
        destination = await self.destination(self)  # may refuse (a full job queue) before any byte is read
        self.parsed = StreamingMultipartParser(self.headers, destination, max_files=max_files,
                                               max_fields=max_fields, max_part_size=max_part_size)
        self._form = await self.parsed.parse(self.stream())
        return self._form

    async def discard_unclaimed(self) -> None:
        for part in self.parsed.files if self.parsed else ():
            upload = part.upload
            if upload.name and not upload.claimed:
                upload.claimed = True
                await run_in_threadpool(upload.destination.discard, upload.name)


def uploads_to(factory: DestinationFactory) -> Callable[[F], F]:
    """Declare where an endpoint's file parts go (its router needs ``route_class=UploadRoute``)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, UPLOAD_DESTINATION, factory)
        return endpoint

    return mark


class UploadRoute(APIRoute):
    """An APIRoute that parses the multipart body of ``@uploads_to`` endpoints as a stream (other endpoints: as
    FastAPI does)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        factory: DestinationFactory | None = getattr(self.endpoint, UPLOAD_DESTINATION, None)
        if factory is None:
            return handler
        destination = factory

        async def route(request: Request) -> Response:
            streaming = StreamingRequest(request, destination)
            try:
                return await handler(streaming)
            except HTTPException as exc:
                # FastAPI turns any error while reading the body into "error parsing the body" (400); ours (a
                # store that does not answer: 503, a full queue: 429, too large: 413) keep their own status.
                cause = exc.__cause__
                if isinstance(cause, OSError):  # a full disk while the upload streams in: 507, not 400
                    cause = StorageFull.from_os_error(cause) or cause
                if isinstance(cause, HablaError):
                    raise cause from None
                raise
            finally:
                await streaming.discard_unclaimed()

        return route

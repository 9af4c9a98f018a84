"""The default backend: a folder on this machine (or a shared mount)."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from habla.errors import ObjectMissing, StorageMisconfigured
from habla.storage.protocol import CHUNK, ObjectRead, check_name, write_stream

PART_SUFFIX = ".part"  # a file still being written; never listed, never served


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.description = f"folder {self.root}"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """Resolve a name, refusing anything that points outside the root."""
        root = self.root.resolve()
        path = (root / check_name(name)).resolve()
        if root not in path.parents:
            raise StorageMisconfigured(f"invalid storage name {name!r}")
        return path

    def _temp(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{PART_SUFFIX}")

    def put(self, name: str, stream: BinaryIO, max_bytes: int | None = None, hint: str = "") -> int:
        return write_stream(self.writer(name), stream, max_bytes, hint)

    def writer(self, name: str) -> FileWriter:
        path = self.path(name)
        return FileWriter(path, self._temp(path))

    def put_bytes(self, name: str, data: bytes) -> None:
        path = self.path(name)
        tmp = self._temp(path)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, name: str, path: Path) -> None:
        target = self.path(name)
        if Path(path).resolve() == target:
            return
        tmp = self._temp(target)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, name: str, start: int = 0, end: int | None = None) -> ObjectRead:
        path = self.path(name)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the chunks generator or release()
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(f"no stored object {name!r}") from None
        size = os.fstat(handle.fileno()).st_size
        last = size - 1 if end is None else min(end, size - 1)
        handle.seek(start)

        def chunks() -> Iterator[bytes]:
            left = last - start + 1
            try:
                while left > 0 and (chunk := handle.read(min(CHUNK, left))):
                    left -= len(chunk)
                    yield chunk
            finally:
                handle.close()

        return ObjectRead(chunks(), size, start, last, handle.close)

    def read_bytes(self, name: str, offset: int = 0) -> bytes:
        try:
            with open(self.path(name), "rb") as handle:
                handle.seek(offset)
                return handle.read()
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(f"no stored object {name!r}") from None

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def list(self, prefix: str) -> list[str]:
        folder, _, _name = prefix.rpartition("/")
        base = self.path(folder) if folder else self.root.resolve()
        if not base.is_dir():
            return []
        root = self.root.resolve()
        names = []
        for path in base.rglob("*"):
            name = path.relative_to(root).as_posix()
            if path.is_file() and not path.name.endswith(PART_SUFFIX) and name.startswith(prefix):
                names.append(name)
        return sorted(names)

    def delete(self, *names: str) -> None:
        for name in names:
            path = self.path(name)
            path.unlink(missing_ok=True)
            self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        self._prune(folder.parent)
        return count

    def _prune(self, folder: Path) -> None:
        """Remove folders left empty up to (not including) the root, as an object store has none."""
        root = self.root.resolve()
        while folder != root and root in folder.parents:
            with contextlib.suppress(OSError):
                folder.rmdir()
                folder = folder.parent
                continue
            return

    def local_path(self, name: str) -> Path | None:
        return self.path(name)

    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        path = self.path(name)
        if not path.is_file():
            raise ObjectMissing(f"no stored object {name!r}")
        yield path

    def presigned_url(self, name: str, expires_seconds: int, filename: str | None = None,
                      media_type: str | None = None) -> str | None:
        return None

    def check(self) -> None:
        probe = self.root / f".habla-probe-{uuid.uuid4().hex[:8]}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageMisconfigured(f"cannot write to the storage folder {self.root}: {exc.strerror}",
                                       hint="check HABLA_JOBS__STORAGE_DIR and its permissions") from None


class FileWriter:
    """Writes a hidden temporary file next to ``path`` and renames it into place on commit (atomic)."""

    block_bytes = CHUNK
    blocks_kept = 0

    def __init__(self, path: Path, tmp: Path) -> None:
        self.path, self.tmp = path, tmp
        self.out = open(tmp, "wb")  # noqa: SIM115 - closed by commit() or abort()

    def ready(self) -> None:
        """Writes never wait."""

    def write(self, block: bytes | bytearray) -> None:
        self.out.write(block)

    def commit(self, last: bytes = b"") -> None:
        try:
            self.out.write(last)
            self.out.flush()
            os.fsync(self.out.fileno())  # a database row that points at it is committed next
            self.out.close()
            os.replace(self.tmp, self.path)
        finally:
            self.abort()

    def abort(self) -> None:
        self.out.close()
        self.tmp.unlink(missing_ok=True)

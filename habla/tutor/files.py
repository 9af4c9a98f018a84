"""The tutor's files in the jobs' object store: ``speakers/`` (a voice sample per persona), ``user_audios/``
(each turn's upload as sent, and its transcript), ``tutor_replies/`` (the tutor's spoken replies).

Names are generated (``<session>/<turn>.<ext>``); the client's file name never becomes a path. With a local
store the files are written in place; with S3 they are written to a scratch folder on this machine and then
put in the store, and what is read back (samples, turn audio) is kept in the scratch folder's ``cache/``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from habla.errors import HablaError, InvalidOption
from habla.storage import ObjectStore, check_name

# PyAV's container names → the extension the file is kept under (browsers record webm/opus or ogg/opus).
CONTAINER_EXT = {"wav": "wav", "matroska": "webm", "webm": "webm", "ogg": "ogg", "flac": "flac", "mp3": "mp3",
                 "mov": "m4a", "mp4": "m4a", "aac": "aac", "caf": "caf", "aiff": "aiff"}


class TutorFiles:
    def __init__(self, objects: ObjectStore, scratch: Path) -> None:
        self.objects, self.scratch = objects, Path(scratch)

    def path(self, name: str) -> Path:
        """Where to write ``name`` on this machine (``publish`` then stores it); refuses names outside the root."""
        try:
            local = self.objects.local_path(check_name(name))
        except HablaError:
            raise InvalidOption(f"invalid storage path {name!r}") from None
        return local if local is not None else self.scratch / "work" / name

    def publish(self, name: str) -> None:
        """Store a file written at ``path(name)`` (nothing to do for a local store)."""
        if self.objects.local_path(name) is None:
            path = self.path(name)
            try:
                self.objects.put_file(name, path)
            finally:
                path.unlink(missing_ok=True)

    def fetch(self, name: str) -> Path | None:
        """The stored file on this machine (downloaded once into the cache for S3); None if it is not stored."""
        local = self.objects.local_path(name)
        if local is not None:
            return local if local.is_file() else None
        cached = self.scratch / "cache" / check_name(name)
        if not cached.is_file():
            if not self.objects.exists(name):
                return None
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{uuid.uuid4().hex[:8]}")
            with self.objects.local_copy(name) as copy:
                shutil.copyfile(copy, tmp)
            os.replace(tmp, cached)
        return cached

    def speaker_sample(self, persona_id: str) -> str:
        return f"speakers/{persona_id}.wav"

    def reply_audio(self, session_id: str, number: int) -> str:
        return f"tutor_replies/{session_id}/{number}.wav"

    def save_upload(self, stream: BinaryIO, session_id: str, number: int, max_bytes: int) -> str:
        """Copy the upload to ``user_audios/<session>/<turn>.part`` on this machine; ``keep`` stores it under its
        real extension."""
        from habla.storage.local import LocalObjectStore

        name = f"user_audios/{session_id}/{number}.part"
        path = self.path(name)
        LocalObjectStore(path.parent).put(path.name, stream, max_bytes,
                                          hint="send a shorter turn, or raise HABLA_TUTOR__MAX_UPLOAD_MB")
        return name

    def keep(self, part: str, container: str) -> str:
        """Rename a checked upload after its container (``webm``, ``wav``, ...) and store it."""
        ext = CONTAINER_EXT.get(container.split(",")[0], "bin")
        name = part.removesuffix(".part") + f".{ext}"
        os.replace(self.path(part), self.path(name))
        self.publish(name)
        return name

    def write_json(self, name: str, data: dict[str, Any]) -> str:
        self.objects.put_bytes(name, json.dumps(data, ensure_ascii=False).encode())
        return name

    def discard(self, *names: str | None) -> None:
        for name in names:
            if name:
                self.path(name).unlink(missing_ok=True)
                self.objects.delete(name)


def container_name(path: Path) -> str:
    """The container PyAV found in a file (``"matroska,webm"``, ``"wav"``, ...)."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        return str(container.format.name)

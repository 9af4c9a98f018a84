"""The tutor's files under the jobs storage root: ``speakers/`` (a voice sample per persona), ``user_audios/``
(each turn's upload as sent, and its transcript), ``tutor_replies/`` (the tutor's spoken replies).

Names are generated (``<session>/<turn>.<ext>``); the client's file name never becomes a path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO

from habla.errors import InvalidOption
from habla.jobs.storage import copy_limited

# PyAV's container names → the extension the file is kept under (browsers record webm/opus or ogg/opus).
CONTAINER_EXT = {"wav": "wav", "matroska": "webm", "webm": "webm", "ogg": "ogg", "flac": "flac", "mp3": "mp3",
                 "mov": "m4a", "mp4": "m4a", "aac": "aac", "caf": "caf", "aiff": "aiff"}


class TutorFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        """Resolve a storage-relative name, refusing anything outside the root."""
        root = self.root.resolve()
        path = (root / name).resolve()
        if root not in path.parents:
            raise InvalidOption(f"invalid storage path {name!r}")
        return path

    def speaker_sample(self, persona_id: str) -> str:
        return f"speakers/{persona_id}.wav"

    def reply_audio(self, session_id: str, number: int) -> str:
        return f"tutor_replies/{session_id}/{number}.wav"

    def save_upload(self, stream: BinaryIO, session_id: str, number: int, max_bytes: int) -> str:
        """Copy the upload to ``user_audios/<session>/<turn>.part``; ``keep`` gives it its real extension."""
        name = f"user_audios/{session_id}/{number}.part"
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        copy_limited(stream, path, max_bytes, hint="send a shorter turn, or raise HABLA_TUTOR__MAX_UPLOAD_MB")
        return name

    def keep(self, part: str, container: str) -> str:
        """Rename a checked upload after its container (``webm``, ``wav``, ...)."""
        ext = CONTAINER_EXT.get(container.split(",")[0], "bin")
        name = part.removesuffix(".part") + f".{ext}"
        os.replace(self.path(part), self.path(name))
        return name

    def write_json(self, name: str, data: dict[str, Any]) -> str:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return name

    def discard(self, *names: str | None) -> None:
        for name in names:
            if name:
                self.path(name).unlink(missing_ok=True)


def container_name(path: Path) -> str:
    """The container PyAV found in a file (``"matroska,webm"``, ``"wav"``, ...)."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        return str(container.format.name)

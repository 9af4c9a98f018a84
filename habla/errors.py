"""Domain errors. Only ``server/errors.py`` and ``cli/main.py`` turn them into HTTP statuses or exit codes."""

from __future__ import annotations

import errno


class HablaError(Exception):
    """Base error: a message for the user and an optional hint on how to fix it."""

    exit_code = 1
    http_status = 400
    code = "habla_error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidOption(HablaError):
    exit_code = 2
    code = "invalid_option"


class ModelNotFound(HablaError):
    exit_code = 3
    http_status = 404
    code = "model_not_found"


class ModelCorrupt(HablaError):
    exit_code = 3
    http_status = 500
    code = "model_corrupt"


class AudioDecodeError(HablaError):
    exit_code = 4
    http_status = 415
    code = "invalid_audio"


class Cancelled(HablaError):
    exit_code = 130
    http_status = 499
    code = "cancelled"


class JobNotFound(HablaError):
    exit_code = 5
    http_status = 404
    code = "job_not_found"


class JobConflict(HablaError):
    """The job is not in a state that allows this (a result of an unfinished job, retry of a succeeded one)."""

    exit_code = 5
    http_status = 409
    code = "job_conflict"


class UploadTooLarge(HablaError):
    http_status = 413
    code = "upload_too_large"


class LLMUnavailable(HablaError):
    """The LLM cannot answer: a remote endpoint is down, times out or refuses, or the llama.cpp binding is missing."""

    exit_code = 6
    http_status = 503
    code = "llm_unavailable"


class VoiceNotFound(HablaError):
    """A text-to-speech voice that is not known or not installed."""

    exit_code = 3
    http_status = 404
    code = "voice_not_found"


class StorageUnavailable(HablaError):
    """The object store (S3, MinIO, ...) cannot be reached or failed: try again later; nothing was lost."""

    exit_code = 7
    http_status = 503
    code = "storage_unavailable"


class StorageMisconfigured(HablaError):
    """The object store answers but refuses habla: wrong credentials, a missing bucket, a bad URL."""

    exit_code = 7
    http_status = 503
    code = "storage_misconfigured"


class ObjectMissing(HablaError):
    """A stored object (an upload, a result) that does not exist."""

    http_status = 404
    code = "object_missing"
class QueueFull(HablaError):
    """Too much work is already waiting (queued jobs); the client should come back after ``retry_after`` s."""

    http_status = 429
    code = "queue_full"

    def __init__(self, message: str, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = max(1, round(retry_after))


class StorageFull(HablaError):
    """The disk (or the database) holding uploads is full: nothing was accepted, nothing is left half-made."""

    exit_code = 7
    http_status = 507
    code = "insufficient_storage"

    @classmethod
    def from_os_error(cls, exc: OSError, what: str = "job storage") -> StorageFull | None:
        """The clear 507 for a disk that is full or over its quota; None for any other OS error."""
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return None
        return cls(f"the server's {what} is full; the job was not accepted",
                   hint="free space on the server, then submit again")

"""Jobs as plain dataclasses: what was asked (JobSpec) and where it stands (Job).

State machine::

    queued ──claim──▶ running ──finish──▶ succeeded
      │                 │ ├──fail────▶ failed ──retry──▶ queued
      │                 │ └──lost worker (lease expired)──▶ queued (or failed after max attempts)
      └──cancel──▶ cancelled ◀──cancel──┘        cancelled ──retry──▶ queued
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
RETRYABLE: frozenset[str] = frozenset({"failed", "cancelled"})

# The transcription options a job may carry; the worker's settings supply everything else.
OPTION_KEYS = ("language", "task", "initial_prompt", "word_timestamps", "temperature", "diarize", "speakers",
               "min_speakers", "max_speakers")
SPEAKER_KEYS = ("diarize", "speakers", "min_speakers", "max_speakers")  # diarization, not transcription


@dataclass(frozen=True)
class JobSpec:
    """What to transcribe and how. ``upload`` is a storage-relative name chosen by habla, never the client's."""

    upload: str
    filename: str = ""  # the client's file name, for display only
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        return cls(upload=data["upload"], filename=data.get("filename", ""), model=data.get("model"),
                   options={k: v for k, v in (data.get("options") or {}).items() if k in OPTION_KEYS},
                   webhook_url=data.get("webhook_url"))


@dataclass(frozen=True)
class Job:
    id: str
    status: JobStatus
    spec: JobSpec
    created_at: float
    attempt: int = 0  # runs started so far; a result is accepted only from the current one
    started_at: float | None = None
    finished_at: float | None = None
    position: float = 0.0  # seconds of audio processed
    duration: float | None = None  # seconds of audio in all, when known
    error: str | None = None
    worker: str | None = None
    lease_until: float | None = None
    result_dir: str | None = None
    language: str | None = None
    webhook_status: str | None = None
    idempotency_key: str | None = None
    owner: str | None = None  # the principal that created it; never shown to clients

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def progress(self) -> float:
        """Percent done, 0-100."""
        if self.status == "succeeded":
            return 100.0
        if not self.duration:
            return 0.0
        return round(min(99.9, 100.0 * self.position / self.duration), 1)

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left, extrapolated from the rate so far; None until there is a rate."""
        if self.status != "running" or not self.started_at or not self.duration or self.position <= 0:
            return None
        elapsed = (now or time.time()) - self.started_at
        return round(max(0.0, elapsed * (self.duration - self.position) / self.position), 1)

    def public(self) -> dict[str, Any]:
        """The JSON shape the API returns (no lease or worker internals)."""
        return {
            "id": self.id, "object": "transcription.job", "status": self.status,
            "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
            "progress": self.progress, "position_seconds": round(self.position, 2),
            "duration_seconds": None if self.duration is None else round(self.duration, 2),
            "eta_seconds": self.eta_seconds(), "attempt": self.attempt, "error": self.error,
            "model": self.spec.model, "filename": self.spec.filename, "language": self.language,
            "options": self.spec.options, "webhook_status": self.webhook_status,
        }

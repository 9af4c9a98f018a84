"""``response_format=diarized_json`` of /v1/audio/transcriptions: OpenAI's shape for gpt-4o-transcribe-diarize
(segments with ``speaker``, ``start``, ``end``, ``text``), known speakers from data-URL reference clips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from habla.asr.options import TranscribeOptions
from habla.asr.types import Transcript
from habla.server.routers.openai_shapes import usage
from habla.server.dependencies import engines


def diarized_json(transcript: Transcript) -> dict[str, Any]:
    segments = [{"type": "transcript.text.segment", "id": f"seg_{s.id:03d}", "start": s.start, "end": s.end,
                 "text": s.text.strip(), "speaker": s.speaker} for s in transcript.segments]
    return {"task": transcript.task, "duration": round(transcript.duration, 3), "text": transcript.text,
            "segments": segments, "usage": usage(transcript.duration)}


async def transcribe_diarized(request: Request, path: Path, model: str | None, options: TranscribeOptions,
                              names: Sequence[str], references: Sequence[str]) -> Transcript:
    """Run inside the caller's concurrency slot; the known speakers are checked before any work."""
    from habla.diarize.references import known_speakers
    from habla.diarize.transcribe import transcribe_with_speakers

    known = await run_in_threadpool(known_speakers, names, references)
    found = engines(request)
    d = found.diarizer()
    return await run_in_threadpool(transcribe_with_speakers, found.transcriber, d, str(path), model,
                                   options, d.speaker_options(), known)

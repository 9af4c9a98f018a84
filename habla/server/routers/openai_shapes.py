"""OpenAI's response shapes for audio: verbose_json, usage and server-sent events."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from habla.asr.types import Segment, Transcript

SEEK_FRAMES_PER_SECOND = 100  # Whisper's seek unit: 10 ms mel frames


@lru_cache(maxsize=256)
def language_name(code: str) -> str:
    """OpenAI reports the language as a lowercase English name ("english", "spanish")."""
    if not code:
        return ""
    try:
        import langcodes

        return langcodes.Language.get(code).display_name("en").lower()
    except (ImportError, ValueError, LookupError):
        return code


def usage(seconds: float) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(seconds)}


def _segment(segment: Segment, temperature: float) -> dict[str, Any]:
    return {"id": segment.id, "seek": int(segment.start * SEEK_FRAMES_PER_SECOND), "start": segment.start,
            "end": segment.end, "text": segment.text, "tokens": list(segment.tokens), "temperature": temperature,
            "avg_logprob": segment.avg_logprob, "compression_ratio": segment.compression_ratio,
            "no_speech_prob": segment.no_speech_prob}


def verbose_json(transcript: Transcript, granularities: set[str], temperature: float = 0.0) -> dict[str, Any]:
    """Segments unless only words were asked for (as OpenAI); words when asked for."""
    language = "english" if transcript.task == "translate" else language_name(transcript.language)
    body: dict[str, Any] = {"task": transcript.task, "language": language, "duration": round(transcript.duration, 3),
                            "text": transcript.text}
    if not granularities or "segment" in granularities:
        body["segments"] = [_segment(s, temperature) for s in transcript.segments]
    if "word" in granularities:
        body["words"] = [{"word": w.word.strip(), "start": w.start, "end": w.end}
                         for s in transcript.segments for w in s.words]
    body["usage"] = usage(transcript.duration)
    return body


def sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

"""The voice latency benchmark: scripted turns from recorded speech, streamed in real time through a VoiceSession
(the same code /v1/talk and `habla chat` run), with each stage's time from the end of the user's speech."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from habla.asr.bench import Clip, read_manifest
from habla.audio.decode import SAMPLE_RATE, decode
from habla.config import Settings
from habla.voice.engines import VoiceEngines
from habla.voice.frames import ReplyDone, Timings, TranscriptFinal, TurnTimings
from habla.voice.options import VoiceOptions
from habla.voice.session import VoiceSession

FRAME = SAMPLE_RATE // 50
STAGES = ("final_transcript", "first_token", "first_sentence", "first_audio")


def pick_clips(folder: Path, language: str, turns: int, max_seconds: float = 8.0) -> list[Clip]:
    clips = [c for c in read_manifest(folder)
             if c.lang == language and c.text.strip() and 1.0 < c.seconds <= max_seconds]
    return (clips * (turns // max(len(clips), 1) + 1))[:turns]


async def _stream(session: VoiceSession, audio: np.ndarray, clock: list[float]) -> None:
    """Feed in 20 ms frames on a real-time schedule (``clock[0]`` is when the stream started)."""
    for i in range(0, len(audio), FRAME):
        await session.feed(audio[i:i + FRAME])
        clock[1] += FRAME
        await asyncio.sleep(max(0.0, clock[0] + clock[1] / SAMPLE_RATE - time.perf_counter()))


async def _conversation(session: VoiceSession, clips: list[Clip], on_turn: Callable[[str], None]) -> list[dict]:
    rows: list[dict[str, Any]] = []
    clock = [time.perf_counter(), 0.0]
    gap = np.zeros(FRAME * 10, np.float32)
    for clip in clips:
        await _stream(session, np.concatenate([gap, decode(clip.path)]), clock)
        row: dict[str, Any] = {"clip": clip.id, "reference": clip.text}
        while "reply" not in row:  # the user listens: the microphone keeps streaming silence
            await _stream(session, gap, clock)
            while not session.events.empty():
                event = session.events.get_nowait()
                if isinstance(event, TranscriptFinal):
                    row["transcript"] = event.text
                elif isinstance(event, Timings):
                    row["timings"] = event.timings
                elif isinstance(event, ReplyDone):
                    row["reply"] = event.text
        rows.append(row)
        on_turn(f"{clip.id}: {row.get('transcript', '')!r} → {row['reply']!r}")
    return rows


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else [values[0]] * 19
    return {"p50": round(statistics.median(values), 3), "p95": round(q[18], 3), "max": round(max(values), 3)}


def summarize(timings: list[TurnTimings]) -> dict[str, Any]:
    out: dict[str, Any] = {s: _percentiles([getattr(t, s) for t in timings if getattr(t, s) is not None])
                           for s in STAGES}
    out["from_last_voiced_sample"] = _percentiles([t.endpoint_wait + t.first_audio for t in timings
                                                   if t.first_audio is not None])
    out["endpoint_wait"] = _percentiles([t.endpoint_wait for t in timings])
    return out


def benchmark(settings: Settings, folder: Path, turns: int = 20, language: str = "en",
              on_step: Callable[[str], None] = print) -> dict[str, Any]:
    options = VoiceOptions.from_settings(settings, language=language)
    engines = VoiceEngines(settings)
    started = time.perf_counter()
    held = engines.hold(options)
    load_seconds = time.perf_counter() - started
    try:
        async def run() -> list[dict]:
            session = VoiceSession(held, options)
            try:
                return await _conversation(session, pick_clips(folder, language, turns), on_step)
            finally:
                await session.close()

        rows = asyncio.run(run())
    finally:
        held.close()
    timings = [r["timings"] for r in rows if "timings" in r]
    return {"turns": len(rows), "answered": len(timings), "load_seconds": round(load_seconds, 2),
            "asr_model": settings.asr.model, "llm_model": settings.llm.model, "voice": held.voice.name,
            "end_silence_ms": options.end_silence_ms, "pause_ms": options.pause_ms,
            "latency": summarize(timings),
            "rows": [{**r, "timings": r["timings"].__dict__ if "timings" in r else None} for r in rows]}


"""WebSocket /v1/talk: a spoken conversation. Binary frames carry 16 kHz mono int16 PCM both ways; JSON text frames
carry control messages and events (docs/talk.md). GET /v1/talk/sessions counts open sessions (for operators and
the tests that check nothing is left behind)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from habla.audio.pcm import from_pcm16_bytes
from habla.audio.wav import wav_bytes
from habla.errors import HablaError, InvalidOption
from habla.server.auth import bearer_token
from habla.server.dependencies import engines
from habla.server.errors import Unauthorized
from habla.voice.engines import Held
from habla.voice.frames import ReplyAudio
from habla.voice.options import VoiceOptions
from habla.voice.recording import EXPORT_FORMATS
from habla.voice.session import VoiceSession

log = logging.getLogger(__name__)
router = APIRouter(tags=["talk"])
MAX_FRAME_BYTES = 1 << 20  # 32 s of audio in one frame is a client bug, not a stream
TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008


def _authorized(ws: WebSocket | Request) -> bool:
    """API keys as on every /v1 route; browsers cannot set headers on a WebSocket, so ``?api_key=`` also works."""
    token = bearer_token(ws.headers) or ws.query_params.get("api_key", "")
    return ws.app.state.keyring.principal(token) is not None


@router.get("/v1/talk/sessions")
async def sessions(request: Request) -> dict[str, int]:
    """Open conversations and those of them with work under way (a reply, a decode)."""
    if not _authorized(request):
        raise Unauthorized("missing or incorrect API key")
    open_ = list(engines(request).voice_sessions)
    return {"active": len(open_), "busy": sum(s.busy for s in open_)}


@router.websocket("/v1/talk")
async def talk(ws: WebSocket) -> None:
    await ws.accept()
    if not _authorized(ws):
        await _refuse(ws, POLICY_VIOLATION, "unauthorized", "missing or incorrect API key")
        return
    found = engines(ws)
    settings = found.settings
    if len(found.voice_sessions) >= settings.voice.max_sessions:
        await _refuse(ws, TRY_AGAIN_LATER, "too_many_sessions",
                      f"this server holds at most {settings.voice.max_sessions} conversations at once")
        return
    try:
        options, first_audio = await _start_options(ws, settings)
        held = await run_in_threadpool(found.voice.hold, options)
    except HablaError as exc:
        await _refuse(ws, POLICY_VIOLATION, exc.code, str(exc))
        return
    except WebSocketDisconnect:
        return
    session = VoiceSession(held, options)
    found.voice_sessions.add(session)
    try:
        await _converse(ws, session, held, first_audio)
    finally:
        found.voice_sessions.discard(session)
        await session.close()
        await run_in_threadpool(held.close)


async def _refuse(ws: WebSocket, close_code: int, code: str, message: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send_json({"type": "error", "code": code, "message": message})
        await ws.close(close_code)


async def _start_options(ws: WebSocket, settings: Any) -> tuple[VoiceOptions, bytes | None]:
    """The first message: ``session.start`` with overrides, or audio straight away (all defaults)."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("bytes") is not None:
        return VoiceOptions.from_settings(settings), message["bytes"]
    data = _parse(message.get("text") or "")
    if data.get("type") != "session.start":
        raise InvalidOption("the first message must be session.start (or audio)")
    overrides = {k: v for k, v in data.items() if k != "type"}
    return VoiceOptions.from_settings(settings, **overrides), None


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidOption(f"a control message is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidOption("a control message must be a JSON object")
    return data


async def _converse(ws: WebSocket, session: VoiceSession, held: Held, first_audio: bytes | None) -> None:
    """Read the client and send it events at once; whichever side ends (the client hangs up, stops reading for
    ``send_timeout_seconds``, or ends the session) ends both, so a gone client never holds a session."""
    opts = session.options
    timeout = ws.app.state.settings.voice.send_timeout_seconds
    await _send(ws, timeout, {"type": "session.ready", "input_sample_rate": 16000,
                              "output_sample_rate": opts.output_sample_rate, "voice": held.voice.name,
                              "language": opts.language, "end_silence_ms": opts.end_silence_ms,
                              "turn_detection": {"type": opts.turn_detection.type,
                                                 "eagerness": opts.turn_detection.eagerness}})
    sender = asyncio.create_task(_send_events(ws, session, timeout))
    receiver = asyncio.create_task(_receive(ws, session, first_audio, sender, timeout))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)


async def _receive(ws: WebSocket, session: VoiceSession, first_audio: bytes | None, sender: asyncio.Task[None],
                   timeout: float) -> None:
    try:
        if first_audio:
            await _feed(ws, session, first_audio, timeout)
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await _feed(ws, session, message["bytes"], timeout)
            elif not await _control(ws, session, message.get("text") or "", sender, timeout):
                return
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: Starlette's "disconnect message received"
        return


async def _send(ws: WebSocket, timeout: float, event: dict[str, Any] | None = None, data: bytes | None = None) -> None:
    """One message to the client, or TimeoutError when it has not taken data for ``timeout`` s (it is gone, or
    never reads: either way the session must not wait for it)."""
    async with asyncio.timeout(timeout):
        if event is not None:
            await ws.send_json(event)
        if data is not None:
            await ws.send_bytes(data)


async def _feed(ws: WebSocket, session: VoiceSession, data: bytes, timeout: float) -> None:
    try:
        await session.feed(_pcm(data))
    except HablaError as exc:  # a bad frame is reported; the conversation goes on
        await _send(ws, timeout, {"type": "error", "code": exc.code, "message": str(exc)})


def _pcm(data: bytes) -> np.ndarray:
    if len(data) > MAX_FRAME_BYTES or len(data) % 2:
        raise InvalidOption("audio frames are int16 PCM, at most 1 MiB each")
    return from_pcm16_bytes(data)


async def _control(ws: WebSocket, session: VoiceSession, text: str, sender: asyncio.Task[None],
                   timeout: float) -> bool:
    """Handle one control message; False ends the session."""
    try:
        data = _parse(text)
        kind = data.get("type")
        if kind == "input.end":
            await session.finish()
            await _drain(session, sender)
            await _send(ws, timeout, {"type": "input.ended", "turns": session.turn})
        elif kind == "reply.cancel":
            session.interrupt()
        elif kind == "session.export":
            await _export(ws, session, str(data.get("format", "json")), timeout)
        elif kind == "session.end":
            await ws.close(1000)
            return False
        else:
            raise InvalidOption(f"unknown message type {kind!r}",
                                hint="input.end, reply.cancel, session.export or session.end")
    except HablaError as exc:
        await _send(ws, timeout, {"type": "error", "code": exc.code, "message": str(exc)})
    return True


async def _drain(session: VoiceSession, sender: asyncio.Task[None]) -> None:
    """Let the sender pass on every event queued so far (so input.ended comes after them); a sender that has
    stopped (the client is gone) will pass on nothing more."""
    while not session.events.empty() and not sender.done():
        await asyncio.sleep(0.01)


async def _export(ws: WebSocket, session: VoiceSession, fmt: str, timeout: float) -> None:
    fmt = fmt.lower()
    if fmt == "wav":
        data = wav_bytes(session.recording.mixed_audio())
        await _send(ws, timeout, {"type": "session.export", "format": "wav", "bytes": len(data)}, data)
        return
    if fmt not in EXPORT_FORMATS:
        raise InvalidOption(f"unknown export format {fmt!r}", hint=f"use {', '.join((*EXPORT_FORMATS, 'wav'))}")
    await _send(ws, timeout, {"type": "session.export", "format": fmt, "content": session.recording.render(fmt)})


async def _send_events(ws: WebSocket, session: VoiceSession, timeout: float) -> None:
    with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
        while True:
            event = await session.events.get()
            await _send(ws, timeout, event.to_json(), event.pcm_bytes() if isinstance(event, ReplyAudio) else None)

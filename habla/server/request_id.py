"""An ``x-request-id`` header on every response, as OpenAI sends (the SDKs expose it as ``_request_id``; logs and
bug reports can quote it). A client's own well-formed ``X-Request-Id`` is kept, so ids match across proxies."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # anything else (spaces, CR/LF, 4 KB) gets a fresh id


def new_id(scope: Scope) -> str:
    given = Headers(scope=scope).get(HEADER, "")
    return given if _CLIENT_ID.fullmatch(given) else f"req_{uuid.uuid4().hex}"


def request_id(scope: Scope) -> str | None:
    """The id of this request (the error handler of a 500 needs it: that response bypasses the middleware)."""
    return scope.get("state", {}).get("request_id")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_id(scope)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)

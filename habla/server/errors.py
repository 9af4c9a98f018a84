"""Every error leaves the server as OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``.

HablaErrors keep their own status; validation errors become 400 (as OpenAI answers), unknown routes 404,
and anything unexpected a logged 500 whose body never carries a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from habla.errors import HablaError
from habla.server.request_id import HEADER, request_id

log = logging.getLogger(__name__)


class Unauthorized(HablaError):
    http_status = 401
    code = "invalid_api_key"


class RateLimited(HablaError):
    """Too many requests for this key, or too many waiting for a slot (transcription, LLM, speech)."""

    http_status = 429
    code = "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = max(1, round(retry_after))


def _type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    if status == 507:
        return "server_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def error_response(status: int, message: str, code: str | None = None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": _type(status), "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _habla_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HablaError)
    retry_after = getattr(exc, "retry_after", None)  # RateLimited, QueueFull
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    if exc.http_status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    return error_response(exc.http_status, str(exc), exc.code, getattr(exc, "param", None), headers)


def _param(loc: tuple[Any, ...]) -> str | None:
    names = [str(part) for part in loc if part not in ("body", "query", "path", "header", "form")]
    return ".".join(names) or None


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    param = _param(tuple(first.get("loc", ())))
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    if first.get("type") == "missing" and param:
        message = f"missing required parameter {param!r}"
    elif "Expected UploadFile" in str(first["msg"]):
        message = f"{param!r} must be an uploaded file (multipart/form-data, with a filename)"
    return error_response(400, message, "invalid_value" if first.get("type") != "missing" else "missing_parameter",
                          param)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}
    return error_response(exc.status_code, str(exc.detail), codes.get(exc.status_code), None,
                          dict(exc.headers) if exc.headers else None)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request.scope)
    log.error("unexpected error on %s %s (request %s)", request.method, request.url.path, rid, exc_info=exc)
    # Starlette answers a 500 outside every middleware, so the request id is added here.
    return error_response(500, "internal server error (see the server log)", "internal_error",
                          headers={HEADER: rid} if rid else None)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HablaError, _habla_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

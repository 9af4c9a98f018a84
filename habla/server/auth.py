"""API keys (``Authorization: Bearer``) and the per-key rate limit, as one dependency for the /v1 routers; the
/v1/talk WebSocket checks the same keys with ``key_accepted`` (browsers cannot set its headers)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from habla.server.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False)  # the header is parsed (and documented) by FastAPI; the errors are ours


def _fingerprint(key: str) -> str:
    # Rate-limit buckets are keyed by a hash, so keys themselves are not kept in another structure.
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def key_accepted(token: str | None, keys: Sequence[SecretStr]) -> bool:
    """``token`` is one of ``keys``. Compared against every key, so the time taken does not reveal which is close."""
    if not token:
        return False
    matched = [hmac.compare_digest(token.encode(), k.get_secret_value().encode()) for k in keys]
    return any(matched)


def authenticate(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None) -> str:
    """The caller's identity for rate limiting: the key's fingerprint, or the client address when the server has
    no keys. Raises Unauthorized for a missing or wrong key."""
    state = request.app.state
    keys = state.settings.server.api_keys
    if keys:
        token = credentials.credentials.strip() if credentials is not None else None
        if token is None or not key_accepted(token, keys):
            raise Unauthorized("missing or incorrect API key",
                               hint="send an 'Authorization: Bearer <key>' header with a key configured "
                                    "in HABLA_SERVER__API_KEYS")
        identity = _fingerprint(token)
    else:
        identity = request.client.host if request.client else "unknown"
    state.rate_limiter.check(identity)
    return identity

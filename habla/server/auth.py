"""API keys and who owns what.

Every request under ``/v1`` is authenticated by ``AuthGate``, an ASGI middleware that reads only the headers: a
request without a valid key gets its 401 before a byte of its body is read, so an anonymous client cannot make the
server spool a large upload. The key maps to a ``Principal``; every job, upload, result, tutor session and
idempotency key belongs to the principal that created it, and other principals get 404 for it (docs/server.md).

Keys are kept only as SHA-256 digests (configured as ``sha256:<hex>``, or plain and hashed at start) and compared
digest to digest in constant time, against every key, so neither memory nor timing gives a key away.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from habla.server import errors
from habla.server.errors import RateLimited, Unauthorized

HASH_PREFIX = "sha256:"
SHARED_PRINCIPAL = "local"  # the one owner of everything when the server has no keys
UNAUTHORIZED_HINT = "send an 'Authorization: Bearer <key>' header with a key configured in HABLA_SERVER__API_KEYS"



@dataclass(frozen=True)
class Principal:
    """Who is calling. ``id`` owns what it creates (a key's digest prefix: stable, and not the key itself);
    an admin sees and acts on everything."""

    id: str
    admin: bool = False

    @property
    def scope(self) -> str | None:
        """The owner to filter by: None (no filter) for an admin."""
        return None if self.admin else self.id


def digest(key: str) -> str:
    """What a key is stored as; ``habla``'s docs show how to compute it for HABLA_SERVER__API_KEYS."""
    return hashlib.sha256(key.encode()).hexdigest()


def _stored_digest(entry: SecretStr) -> str:
    value = entry.get_secret_value().strip()
    if value.lower().startswith(HASH_PREFIX):
        return value[len(HASH_PREFIX):].strip().lower()
    return digest(value)


class KeyRing:
    """The configured keys as digests. Empty = no authentication: every caller is the one shared principal."""

    def __init__(self, keys: Iterable[SecretStr], admin_keys: Iterable[SecretStr] = ()) -> None:
        self._keys = [(_stored_digest(k), False) for k in keys] + [(_stored_digest(k), True) for k in admin_keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def principal(self, token: str) -> Principal | None:
        """The principal of a presented key, or None when it matches none (or keys are off and it is empty)."""
        if not self._keys:
            return Principal(SHARED_PRINCIPAL, admin=True)
        if not token:
            return None
        presented = digest(token)
        found: Principal | None = None
        for stored, admin in self._keys:  # every key is compared, so the time taken does not say which matched
            if hmac.compare_digest(presented, stored) and found is None:
                found = Principal(f"key_{stored[:16]}", admin)
        return found


def bearer_token(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _rate_key(scope: Scope, principal: Principal, keyring: KeyRing) -> str:
    if keyring.enabled:
        return principal.id
    client = scope.get("client")
    return str(client[0]) if client else "unknown"  # no keys: rate limits stay per client address


class AuthGate:
    """Authenticates (and rate-limits) every HTTP request under ``/v1`` from its headers alone, before anything
    reads the body; the principal is left in ``scope["state"]["principal"]`` for the routers."""

    def __init__(self, app: ASGIApp, exempt: tuple[str, ...] = ()) -> None:
        self.app, self.exempt = app, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/") or path.rstrip("/") in self.exempt:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        keyring: KeyRing = state.keyring
        principal = keyring.principal(bearer_token(Headers(scope=scope)))
        if principal is None:
            response = errors.error_response(401, f"missing or incorrect API key ({UNAUTHORIZED_HINT})",
                                             "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        try:
            state.rate_limiter.check(_rate_key(scope, principal, keyring))
        except RateLimited as exc:
            response = errors.error_response(429, str(exc), exc.code, headers={"Retry-After": str(exc.retry_after)})
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def authenticate(request: Request) -> Principal:
    """The caller's principal, as AuthGate found it (or checked here for a route the gate does not cover)."""
    found = request.scope.get("state", {}).get("principal")
    if isinstance(found, Principal):
        return found
    principal = request.app.state.keyring.principal(bearer_token(request.headers))
    if principal is None:
        raise Unauthorized("missing or incorrect API key", hint=UNAUTHORIZED_HINT)
    request.app.state.rate_limiter.check(_rate_key(request.scope, principal, request.app.state.keyring))
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


def owner_scope(request: Request) -> str | None:
    """The owner filter of this request's principal (None for an admin)."""
    return authenticate(request).scope

"""API keys (``Authorization: Bearer``) and the per-key rate limit, as one dependency for the /v1 routers."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from habla.server.errors import Unauthorized


def _fingerprint(key: str) -> str:
    # Rate-limit buckets are keyed by a hash, so keys themselves are not kept in another structure.
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def authenticate(request: Request) -> str:
    """The caller's identity for rate limiting: the key's fingerprint, or the client address when the server has
    no keys. Raises Unauthorized for a missing or wrong key."""
    state = request.app.state
    keys = [k.get_secret_value() for k in state.settings.server.api_keys]
    if keys:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        # Compare against every key so the time taken does not reveal which key is close.
        matched = [hmac.compare_digest(token.encode(), k.encode()) for k in keys]
        if scheme.lower() != "bearer" or not token or not any(matched):
            raise Unauthorized("missing or incorrect API key",
                               hint="send an 'Authorization: Bearer <key>' header with a key configured "
                                    "in HABLA_SERVER__API_KEYS")
        identity = _fingerprint(token)
    else:
        identity = request.client.host if request.client else "unknown"
    state.rate_limiter.check(identity)
    request.state.principal = identity  # the batching queue takes turns between callers
    return identity

"""API keys: plain or kept as digests, admin keys, and the one shared principal when keys are off."""

from __future__ import annotations

import hashlib

from pydantic import SecretStr

from habla.server.auth import SHARED_PRINCIPAL, KeyRing, digest


def test_keys_map_to_stable_principals_and_digests_work_like_keys() -> None:
    ring = KeyRing([SecretStr("alpha"), SecretStr("sha256:" + hashlib.sha256(b"beta").hexdigest().upper())],
                   [SecretStr("root-key")])
    alpha, beta, admin = ring.principal("alpha"), ring.principal("beta"), ring.principal("root-key")
    assert alpha is not None and beta is not None and admin is not None
    assert alpha.id == f"key_{digest('alpha')[:16]}" != beta.id
    assert (alpha.admin, beta.admin, admin.admin) == (False, False, True)
    assert (alpha.scope, admin.scope) == (alpha.id, None)
    assert ring.principal("alpha") == alpha  # the same key is the same owner every time
    for wrong in ("", "alph", "alpha ", "sha256:" + digest("beta"), digest("beta"), "ALPHA"):
        assert ring.principal(wrong) is None, wrong


def test_without_keys_everyone_is_one_shared_principal() -> None:
    ring = KeyRing([])
    assert not ring.enabled
    principal = ring.principal("")
    assert principal is not None and principal.id == SHARED_PRINCIPAL
    assert ring.principal("anything") == principal

"""The token-signing key as JOSE objects (joserfc): the private KeySet Authlib signs with, and the public
JWKS (RFC 7517 §5) published at `jwks_uri`. The `kid` is the key's RFC 7638 thumbprint."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey, KeySet

from ca.lifecycle.token_key import token_signing_key
from ca.runtime import Runtime

ALG = "ES256"  # RFC 7518 §3.4, on the P-256 key of ca.lifecycle.token_key


def private_keyset(runtime: Runtime) -> KeySet:
    key = token_signing_key(runtime)
    kid = ECKey.import_key(key).thumbprint()
    return KeySet([ECKey.import_key(key, {"kid": kid, "use": "sig", "alg": ALG})])


def public_jwks(runtime: Runtime) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in private_keyset(runtime).keys]}


def public_keyset(runtime: Runtime) -> KeySet:
    return KeySet.import_key_set(public_jwks(runtime))  # type: ignore[arg-type]

"""The token-signing key as JOSE objects (joserfc): the private KeySet Authlib signs with, and the public
JWKS (RFC 7517 §5) published at `jwks_uri`. The `kid` is the key's RFC 7638 thumbprint.

The JOSE objects are built once per loaded key (the key object is cached by ca.lifecycle.token_key), so a
bearer call does not re-import the key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, KeySet

from ca.lifecycle.token_key import token_signing_key
from ca.runtime import Runtime

ALG = "ES256"  # RFC 7518 §3.4, on the P-256 key of ca.lifecycle.token_key


@lru_cache(maxsize=8)
def _keysets(key: ec.EllipticCurvePrivateKey) -> tuple[KeySet, dict[str, Any], KeySet]:
    kid = ECKey.import_key(key).thumbprint()
    private = KeySet([ECKey.import_key(key, {"kid": kid, "use": "sig", "alg": ALG})])
    jwks = {"keys": [k.as_dict(private=False) for k in private.keys]}
    return private, jwks, KeySet.import_key_set(jwks)  # type: ignore[arg-type]


def private_keyset(runtime: Runtime) -> KeySet:
    return _keysets(token_signing_key(runtime))[0]


def public_jwks(runtime: Runtime) -> dict[str, Any]:
    return _keysets(token_signing_key(runtime))[1]


def public_keyset(runtime: Runtime) -> KeySet:
    return _keysets(token_signing_key(runtime))[2]

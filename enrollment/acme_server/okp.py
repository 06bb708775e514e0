"""EdDSA for ACME (RFC 8555 §6.2 "SHOULD support EdDSA"): josepy has no OKP keys, so the two pieces
RFC 8037 defines are registered with josepy's own extension points — the `OKP` JWK (§2, Ed25519 only) and
the `EdDSA` JWS algorithm (§3.1) — and the rest of the JWS handling stays josepy's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import josepy as jose
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@jose.JWK.register
class JWKOKP(jose.JWK):
    """RFC 8037 §2: {"kty": "OKP", "crv": "Ed25519", "x": base64url(public key)}; thumbprint over crv, kty, x
    (§2, RFC 7638 §3.2)."""

    typ = "OKP"
    __slots__ = ("key",)
    required = ("crv", jose.JWK.type_field_name, "x")
    key: ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey

    def _public(self) -> ed25519.Ed25519PublicKey:
        key = self.key
        return key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey) else key

    def fields_to_partial_json(self) -> dict[str, str]:
        raw = self._public().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"crv": "Ed25519", "x": jose.encode_b64jose(raw)}

    @classmethod
    def fields_from_json(cls, jobj: Mapping[str, Any]) -> JWKOKP:
        if jobj.get("crv") != "Ed25519" or "d" in jobj:
            raise jose.DeserializationError("only public Ed25519 OKP keys are accepted")
        try:
            return cls(key=ed25519.Ed25519PublicKey.from_public_bytes(jose.decode_b64jose(jobj["x"])))
        except (KeyError, ValueError) as exc:
            raise jose.DeserializationError(f"invalid OKP key: {exc}") from None

    def public_key(self) -> JWKOKP:
        return type(self)(key=self._public())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JWKOKP) and self.fields_to_partial_json() == other.fields_to_partial_json()

    def __hash__(self) -> int:
        return hash(self.fields_to_partial_json()["x"])


class _EdDSA(jose.JWASignature):
    """RFC 8037 §3.1: the signature is Ed25519 over the JWS signing input."""

    kty = JWKOKP

    def sign(self, key: Any, msg: bytes) -> bytes:
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise jose.Error("an Ed25519 private key is needed to sign")
        return key.sign(msg)

    def verify(self, key: Any, msg: bytes, sig: bytes) -> bool:
        public = key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey) else key
        if not isinstance(public, ed25519.Ed25519PublicKey):
            return False
        try:
            public.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


EdDSA = jose.JWASignature.register(_EdDSA("EdDSA"))

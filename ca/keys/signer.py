"""The Signer port: whatever holds a CA key only has to sign bytes.

Every CA signature (certificate, CRL) goes through `Signer.sign(tbs)` and the signed structure is
assembled around it, so a key that never leaves a PKCS#11 token signs exactly like a key file.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes


class Signer(Protocol):
    """A CA private key, seen only through what it can do."""

    @property
    def key_type(self) -> str:
        """One of KEY_TYPES: 'ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'."""
        ...

    def public_key(self) -> CertificateIssuerPublicKeyTypes: ...

    def sign(self, data: bytes) -> bytes:
        """Signature over `data` with `signature_hash(key_type)`: DER ECDSA-Sig-Value or PKCS#1 v1.5."""
        ...


KEY_TYPES: tuple[str, ...] = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")


def signature_hash(key_type: str) -> hashes.HashAlgorithm:
    """SHA-384 for P-384 (matching strength, RFC 5480 §4), SHA-256 otherwise."""
    if key_type not in KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}")
    return hashes.SHA384() if key_type == "ec-p384" else hashes.SHA256()

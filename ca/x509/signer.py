"""The Signer port, declared once: whatever holds a key only has to sign bytes.

Every signature the CA makes (certificates, CRLs, OCSP responses) goes through `Signer.sign(tbs)` and the
signed structure is assembled around it (RFC 5280 §4.1, §5.1; RFC 6960 §4.2.1), so a key that never leaves
a PKCS#11 token signs exactly like an encrypted key file or an OCSP responder key held in memory.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

KEY_TYPES: tuple[str, ...] = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")


class Signer(Protocol):
    """A private key, seen only through what it can do."""

    @property
    def key_type(self) -> str:
        """One of KEY_TYPES."""
        ...

    def public_key(self) -> CertificateIssuerPublicKeyTypes: ...

    def sign(self, data: bytes) -> bytes:
        """Signature over `data` with `hash_for(key_type)`: DER ECDSA-Sig-Value or PKCS#1 v1.5."""
        ...


class DigestSigner(Signer, Protocol):
    """A Signer that also signs a digest computed by the caller (streamed structures: CRLs)."""

    def sign_digest(self, digest: bytes) -> bytes:
        """Signature over the data whose `hash_for(key_type)` digest is `digest`."""
        ...


def hash_for(key_type: str) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for P-384 (matching strength, RFC 5480 §4), SHA-256 otherwise (RFC 4055 §5 for RSA)."""
    if key_type not in KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}")
    return hashes.SHA384() if key_type == "ec-p384" else hashes.SHA256()


def ca_public_key(key: PublicKeyTypes) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    """The key as one the CA signs or certifies (EC or RSA; CSR checks refuse every other kind first)."""
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return key
    raise TypeError(f"unsupported key type {type(key).__name__}")


def ca_private_key(key: PrivateKeyTypes) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return key
    raise TypeError(f"unsupported key type {type(key).__name__}")


__all__ = ["KEY_TYPES", "CertificateIssuerPrivateKeyTypes", "CertificateIssuerPublicKeyTypes", "DigestSigner", "Signer",
           "ca_private_key", "ca_public_key", "hash_for"]

"""Sign a certificate builder through the Signer port, linting exactly the bytes that get signed.

cryptography's builder only signs with an in-process key. We sign the builder once with a throwaway key
of the same type: that yields the real TBSCertificate bytes (the signature algorithm is part of the TBS and
depends only on the key type; the AKI is set explicitly from the real issuer). Those bytes are linted, then
signed by the real Signer, and the Certificate is assembled around them (RFC 5280 §4.1).
"""

from __future__ import annotations

import functools
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from ca.errors import PKIError
from ca.x509.der import assemble_signed, hash_for, signature_algorithm_der


class SignsBytes(Protocol):
    @property
    def key_type(self) -> str: ...

    def public_key(self) -> CertificateIssuerPublicKeyTypes: ...

    def sign(self, data: bytes) -> bytes: ...


class SigningError(PKIError):
    """The CA key produced a signature that does not verify: never hand such a certificate out."""

    kind = "internal"


@functools.cache
def throwaway_key(key_type: str) -> CertificateIssuerPrivateKeyTypes:
    """A per-process key used only to obtain TBS bytes; its signatures are discarded."""
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}")


def preview(builder: x509.CertificateBuilder, key_type: str) -> x509.Certificate:
    """The certificate as it will be, signed by the throwaway key: for linting and inspection only."""
    return builder.sign(throwaway_key(key_type), hash_for(key_type))


def verify_signed_by(cert: x509.Certificate, public_key: CertificateIssuerPublicKeyTypes) -> None:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
            )
        else:
            raise TypeError("unsupported issuer key")
    except InvalidSignature:
        raise SigningError("the CA key produced an invalid signature; nothing was issued") from None


def sign_tbs(tbs: bytes, signer: SignsBytes) -> x509.Certificate:
    """Sign exactly `tbs` with the real key, assemble, and check the result before anyone sees it."""
    der = assemble_signed(tbs, signature_algorithm_der(signer.key_type), signer.sign(tbs))
    cert = x509.load_der_x509_certificate(der)
    if cert.tbs_certificate_bytes != tbs:
        raise SigningError("assembled certificate does not carry the linted TBS bytes")
    verify_signed_by(cert, signer.public_key())
    return cert

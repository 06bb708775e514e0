"""Build a PKCS#10 CSR (RFC 2986) signed through a Signer-like object.

cryptography's CSR builder signs with an in-process key and puts that key's public half in the request,
so a token-held key (PKCS#11) needs the CertificationRequestInfo assembled here.
"""

from __future__ import annotations

from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from ca.x509.der import assemble_signed, integer, sequence, signature_algorithm_der


class _Signs(Protocol):
    @property
    def key_type(self) -> str: ...

    def public_key(self) -> CertificateIssuerPublicKeyTypes: ...

    def sign(self, data: bytes) -> bytes: ...


def build_csr(subject: x509.Name, signer: _Signs) -> x509.CertificateSigningRequest:
    spki = signer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # RFC 2986 §4.1: version 0, subject, subjectPKInfo, attributes [0] IMPLICIT SET OF (empty).
    info = sequence(integer(0), subject.public_bytes(), spki, b"\xa0\x00")
    der = assemble_signed(info, signature_algorithm_der(signer.key_type), signer.sign(info))
    csr = x509.load_der_x509_csr(der)
    if not csr.is_signature_valid:
        raise ValueError("the key produced an invalid CSR signature")
    return csr

"""Certificate signing requests (RFC 2986): load, prove possession, check the key.

Only the public key is taken from a CSR. Subject and extensions come from the profile and the ledger
(DESIGN §4), so requested extensions are neither read nor refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import SignatureAlgorithmOID

from ca.errors import BadCSRError
from ca.x509.keycheck import check_public_key

MAX_CSR_BYTES = 64 * 1024

_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}  # RFC 7468 §7 and its legacy form


def _is_certificate_der(data: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        return False
    return True


def _load_pem(data: bytes) -> x509.CertificateSigningRequest:
    match = _PEM_LABEL.search(data)
    label = match.group(1) if match else b""
    if label not in _CSR_LABELS:
        shown = label.decode("ascii") or "unlabelled"
        raise BadCSRError(f"PEM block is {shown!r}, expected 'CERTIFICATE REQUEST'")
    try:
        return x509.load_pem_x509_csr(data)
    except (ValueError, x509.InvalidVersion):
        raise BadCSRError("PEM 'CERTIFICATE REQUEST' block is damaged: not a valid CSR") from None


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Parse a CSR given as PEM (RFC 7468 §7) or DER; anything else is a BadCSRError saying why.

    The size cap is checked first so that a hostile upload is never handed to the parser.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("CSR data must be bytes")
    data = bytes(data)
    if not data or data.isspace():  # `not data.strip()`, without copying the upload
        raise BadCSRError("CSR is empty")
    if len(data) > MAX_CSR_BYTES:
        raise BadCSRError(f"CSR is {len(data)} bytes, larger than the {MAX_CSR_BYTES // 1024} KiB limit")
    if b"-----BEGIN" in data:
        return _load_pem(data)
    try:
        return x509.load_der_x509_csr(data)
    except (ValueError, x509.InvalidVersion):
        if _is_certificate_der(data):
            raise BadCSRError("this is a certificate, not a certificate signing request") from None
        raise BadCSRError("data is not a certificate signing request (neither PEM nor DER)") from None


def check_csr(csr: x509.CertificateSigningRequest) -> PublicKeyTypes:
    """The self-signature proves possession of the private key (RFC 2986 §3); then the key's quality. Returns
    the checked key (each `csr.public_key()` parses and validates the point again)."""
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise BadCSRError("CSR public key is invalid or of an unsupported type") from None
    try:
        signature_ok = _signature_valid(csr, key)
    except (ValueError, UnsupportedAlgorithm):
        raise BadCSRError("CSR signature algorithm is not supported") from None
    if not signature_ok:
        raise BadCSRError("CSR signature does not verify: no proof of possession of the private key")
    check_public_key(key)
    return key


# Each algorithm's ECDSA parameters, made once (stateless objects, shared by every check and thread).
_ECDSA: dict[x509.ObjectIdentifier, ec.ECDSA] = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: ec.ECDSA(hashes.SHA256()),
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: ec.ECDSA(hashes.SHA384()),
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: ec.ECDSA(hashes.SHA512()),
}


def _signature_valid(csr: x509.CertificateSigningRequest, key: PublicKeyTypes) -> bool:
    """The CSR's signature over its certificationRequestInfo DER (RFC 2986 §4.2). An EC key with an
    ecdsa-with-SHA2 algorithm (RFC 5758 §3.2) is verified here with the key already parsed — cryptography's
    `is_signature_valid` parses the key again, an eighth of a CSR's whole check — any other pair by
    `is_signature_valid` itself."""
    algorithm = _ECDSA.get(csr.signature_algorithm_oid)
    if algorithm is None or not isinstance(key, ec.EllipticCurvePublicKey):
        return csr.is_signature_valid
    try:
        key.verify(csr.signature, csr.tbs_certrequest_bytes, algorithm)
    except InvalidSignature:
        return False
    return True


def parse_and_check_csr(data: bytes) -> x509.CertificateSigningRequest:
    """load_csr then check_csr."""
    csr = load_csr(data)
    check_csr(csr)
    return csr


@dataclass(frozen=True)
class CheckedCSR:
    """A CSR that passed every check (format, proof of possession, key quality), parsed once and passed on
    from the request to the issuance, with its DER and the SHA-256 of its SubjectPublicKeyInfo."""

    csr: x509.CertificateSigningRequest
    der: bytes
    spki_sha256: str
    public_key: PublicKeyTypes  # the CSR's key, parsed once
    spki_der: bytes  # its SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), as a certificate carries it


def checked_csr(data: bytes | CheckedCSR) -> CheckedCSR:
    if isinstance(data, CheckedCSR):
        return data
    csr, key, spki, spki_sha256 = _checked(data)
    return CheckedCSR(csr=csr, der=csr.public_bytes(Encoding.DER), spki_sha256=spki_sha256, public_key=key,
                      spki_der=spki)


def checked_key(data: bytes) -> tuple[PublicKeyTypes, bytes, str]:
    """The checks of `checked_csr`, returning only the key, its SubjectPublicKeyInfo DER and that DER's SHA-256
    (what a batch needs: ca.signing_pool checks CSRs with it)."""
    _csr, key, spki, spki_sha256 = _checked(data)
    return key, spki, spki_sha256


def _checked(data: bytes) -> tuple[x509.CertificateSigningRequest, PublicKeyTypes, bytes, str]:
    csr = load_csr(data)
    key = check_csr(csr)
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # hashed as keycheck.spki_sha256
    return csr, key, spki, hashlib.sha256(spki).hexdigest()

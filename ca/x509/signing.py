"""The one signing pipeline for certificates: preview, lint, (record intent), sign, check the TBS bytes.

cryptography's builder only signs with an in-process key. We sign the builder once with a throwaway key
of the same type: that yields the real TBSCertificate bytes (the signature algorithm is part of the TBS and
depends only on the key type; the AKI is set explicitly from the real issuer). Those bytes are linted, then
signed by the real Signer, and the Certificate is assembled around them (RFC 5280 §4.1). Every certificate
the CA makes — root, issuer, cross-certificate, leaf, OCSP responder — goes through `sign_certificate`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from ca.errors import LintError, SigningError
from ca.x509.der import assemble_signed, signature_algorithm_der
from ca.x509.lint import lint_certificate
from ca.x509.signer import Signer, hash_for


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
    hash_algorithm = cert.signature_hash_algorithm
    if hash_algorithm is None:
        raise SigningError("the certificate carries no signature hash algorithm")
    verify_signature(public_key, cert.signature, cert.tbs_certificate_bytes, hash_algorithm)


def verify_signature(public_key: CertificateIssuerPublicKeyTypes, signature: bytes, data: bytes,
                     hash_algorithm: hashes.HashAlgorithm) -> None:
    """SigningError unless `signature` is the key's ECDSA or PKCS#1 v1.5 signature over `data`."""
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
        else:
            raise TypeError("unsupported issuer key")
    except InvalidSignature:
        raise SigningError("the CA key produced an invalid signature; nothing was issued") from None


def sign_tbs(tbs: bytes, signer: Signer) -> x509.Certificate:
    """Sign exactly `tbs` with the real key, assemble, and check the result before anyone sees it."""
    return _signed(tbs, signer, signer.public_key())[1]


def sign_tbs_der(tbs: bytes, signer: Signer, verify_key: CertificateIssuerPublicKeyTypes) -> bytes:
    """`sign_tbs`, its signature verified with `verify_key` (the issuer certificate's key: a signing process,
    ca.signing_pool), returning the certificate's DER."""
    return _signed(tbs, signer, verify_key)[0]


def _signed(tbs: bytes, signer: Signer, verify_key: CertificateIssuerPublicKeyTypes) -> tuple[bytes, x509.Certificate]:
    """The parsed certificate must carry exactly `tbs` (its TBS re-encoded, RFC 5280 §4.1.1.1) and the
    signature, verified over those very bytes (§4.1.1.3) with the hash of the algorithm it names (the key
    type's: signature_algorithm_der)."""
    der = assemble_signed(tbs, signature_algorithm_der(signer.key_type), signer.sign(tbs))
    cert = x509.load_der_x509_certificate(der)
    if cert.tbs_certificate_bytes != tbs:
        raise SigningError("assembled certificate does not carry the linted TBS bytes")
    verify_signature(verify_key, cert.signature, tbs, hash_for(signer.key_type))
    return der, cert


def lint_or_refuse(cert: x509.Certificate) -> None:
    """pkilint's RFC 5280 findings at WARNING or above refuse the certificate before anything is signed."""
    findings = lint_certificate(cert)
    if findings:
        raise LintError("certificate refused by the linter, nothing signed: " + "; ".join(findings))


def sign_certificate(
    builder: x509.CertificateBuilder,
    signer: Signer,
    *,
    lint: bool = True,
    before_signing: Callable[[x509.Certificate], None] | None = None,
) -> x509.Certificate:
    """Preview with a throwaway key, lint (LintError), call `before_signing` with the preview (where issuance
    records its intent, DESIGN §4 step 2), sign exactly the previewed TBS bytes once, and check them."""
    draft = preview(builder, signer.key_type)
    if lint:
        lint_or_refuse(draft)
    if before_signing is not None:
        before_signing(draft)
    return sign_tbs(draft.tbs_certificate_bytes, signer)

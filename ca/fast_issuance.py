"""The issuance fast path (issue 14 §1): sign a leaf's TBSCertificate encoded from its shape's template.

The guarantees of the builder pipeline (ca.x509.signing) are kept: the shape is linted with pkilint once,
when it is first needed in this process (and again whenever anything it is made of changes: issuer
certificate, profile, repository URLs — they are its key); the varying fields pass the template's exact
validators or the certificate goes through the builder and pkilint as a whole; the intent is committed
before the key signs; the signature is verified over exactly the encoded bytes before anything leaves; every
certificate is linted again after the fact (ca.post_lint).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from prometheus_client import Counter

from ca.issuer import Issuer
from ca.x509.csr import CheckedCSR
from ca.x509.signer import ca_public_key
from ca.x509.signing import lint_or_refuse, sign_tbs
from ca.x509.tbs_template import Shape, ShapeKey, encode_tbs, key_family, make_shape
from ca.x509.templates import Profile, RepositoryURLs

FAST_PATH = Counter("pki_issuance_fast_path", "Leaf certificates signed from a shape template (template) or "
                    "left to the builder because the template could not encode them exactly (builder)", ["path"])
_TEMPLATE = FAST_PATH.labels("template")
_BUILDER = FAST_PATH.labels("builder")

_shapes: dict[ShapeKey, Shape] = {}
_linted: set[ShapeKey] = set()
_lock = threading.Lock()


class LeafPlan(Protocol):
    @property
    def profile(self) -> Profile: ...
    @property
    def subject(self) -> x509.Name: ...
    @property
    def emails(self) -> tuple[str, ...]: ...
    @property
    def not_after(self) -> datetime: ...


def shape_for(key: ShapeKey, *, lint: bool) -> Shape:
    """The shape of `key`, made once per process and linted once (LintError: nothing of it is ever signed)."""
    shape = _shapes.get(key)
    if shape is not None and (key in _linted or not lint):
        return shape
    with _lock:
        shape = _shapes.get(key)
        if shape is None:
            shape = make_shape(key)
        if lint and key not in _linted:
            lint_or_refuse(shape.reference)
            _linted.add(key)
        _shapes[key] = shape
    return shape


def shape_key(plan: LeafPlan, issuer: Issuer, urls: RepositoryURLs, family: str, with_san: bool) -> ShapeKey:
    """What a leaf's shape is made of: issuer certificate and key type, profile, URLs, key family, SAN."""
    return ShapeKey(_issuer_der(issuer.certificate), issuer.signer.key_type, plan.profile, urls, family, with_san)


def fast_tbs(plan: LeafPlan, public_key: CertificateIssuerPublicKeyTypes, issuer: Issuer, urls: RepositoryURLs,
             serial_number: int, now: datetime, dns_names: Sequence[str], *, lint: bool,
             spki: bytes | None = None) -> bytes | None:
    """The TBSCertificate of these values from its linted shape, or None when the template cannot encode them
    exactly (nothing counted yet: `fast_sign` and ca.issuance.issue_many count the path taken)."""
    key = shape_key(plan, issuer, urls, key_family(public_key), bool(plan.emails or dns_names))
    return encode_tbs(shape_for(key, lint=lint), serial_number=serial_number, not_before=now,
                      not_after=plan.not_after, subject=plan.subject, public_key=public_key, emails=plan.emails,
                      dns_names=dns_names, spki=spki)


_ISSUER_DER: dict[int, tuple[x509.Certificate, bytes, bytes]] = {}


def _issuer_encodings(certificate: x509.Certificate) -> tuple[x509.Certificate, bytes, bytes]:
    """(certificate, its DER, its SubjectPublicKeyInfo DER), kept per certificate object (ca.issuance parses
    each issuer once)."""
    cached = _ISSUER_DER.get(id(certificate))
    if cached is None or cached[0] is not certificate:
        if len(_ISSUER_DER) > 64:
            _ISSUER_DER.clear()
        cached = _ISSUER_DER[id(certificate)] = (
            certificate, certificate.public_bytes(Encoding.DER),
            certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    return cached


def _issuer_der(certificate: x509.Certificate) -> bytes:
    return _issuer_encodings(certificate)[1]


def issuer_spki(certificate: x509.Certificate) -> bytes:
    """The issuer certificate's SubjectPublicKeyInfo: the key a signing process verifies each signature
    with (ca.signing_pool)."""
    return _issuer_encodings(certificate)[2]


def count_path(template: bool, count: int = 1) -> None:
    (_TEMPLATE if template else _BUILDER).inc(count)


def fast_sign(plan: LeafPlan, csr: CheckedCSR, issuer: Issuer, urls: RepositoryURLs, serial_number: int,
              now: datetime, dns_names: Sequence[str], *, lint: bool,
              before_signing: Callable[[int], None]) -> x509.Certificate | None:
    """The signed, verified certificate; or None before anything is recorded when the template cannot encode
    these values exactly (the caller then uses the builder pipeline)."""
    public_key = ca_public_key(csr.public_key)
    tbs = fast_tbs(plan, public_key, issuer, urls, serial_number, now, dns_names, lint=lint, spki=csr.spki_der)
    if tbs is None:
        _BUILDER.inc()
        return None
    before_signing(serial_number)
    certificate = sign_tbs(tbs, issuer.signer)
    _TEMPLATE.inc()
    return certificate

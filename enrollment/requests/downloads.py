"""A person's certificates and their downloads: PEM, DER, or a PKCS#7 bundle with the chain (never a key).

Visible: one's own certificates in one's current company; a company administrator sees the company's;
an operator sees everything. Anything else is "not found" (ASVS 8.2.2), with the same message.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from ca.actor import Actor
from ca.certificates import CertificateView, certificate_views, get_visible_certificate, show_certificate
from ca.errors import BadRequestError
from ca.ledger import portal_store, store
from ca.runtime import Runtime
from ca.x509.serials import serial_tag
from enrollment.requests.views import Download

FORMATS = {
    "pem": ("application/x-pem-file", "crt"),
    "der": ("application/pkix-cert", "cer"),
    "p7b": ("application/x-pkcs7-certificates", "p7b"),
}


def list_my_certificates(runtime: Runtime, actor: Actor) -> list[CertificateView]:
    """Newest first; only those of the person's current company."""
    if actor.company_id is None or actor.user_id is None:
        return []
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        records = portal_store.list_user_certificates(session, user_id=actor.user_id, company_id=actor.company_id)
        return certificate_views(session, records, now)


def get_certificate(runtime: Runtime, actor: Actor, *, serial: str) -> CertificateView:
    return show_certificate(runtime, actor, serial, signed=True)


def download_certificate(runtime: Runtime, actor: Actor, *, serial: str, fmt: str) -> Download:
    if fmt not in FORMATS:
        raise BadRequestError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with runtime.sessionmaker() as session:
        record = get_visible_certificate(session, actor, serial, signed=True)
        issuer = next(i for i in store.list_issuers(session) if i.id == record.issuer_id)
        der, issuer_der, root_der, subject = record.der, issuer.certificate_der, issuer.root_der, record.subject
        record_serial = record.serial
    assert der is not None  # get_visible_certificate(signed=True)
    certificate = x509.load_der_x509_certificate(der)
    media_type, extension = FORMATS[fmt]
    if fmt == "pem":
        body = certificate.public_bytes(Encoding.PEM)
    elif fmt == "der":
        body = der
    else:  # RFC 2315 degenerate signedData, "certs-only" (RFC 5751 §3.6): certificate, issuer, root
        chain = [certificate, x509.load_der_x509_certificate(issuer_der), x509.load_der_x509_certificate(root_der)]
        body = pkcs7.serialize_certificates(chain, Encoding.DER)
    cn = re.search(r"CN=([^,+]+)", subject)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", cn.group(1) if cn else "certificate").strip("-").lower() or "certificate"
    return Download(filename=f"{slug}-{serial_tag(record_serial)}.{extension}", media_type=media_type, body=body)

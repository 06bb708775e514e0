"""Delegated OCSP responder certificates, one per issuer (RFC 6960 §4.2.2.2; BR §7.1.2.8).

Profile `ocsp-responder`: EKU OCSPSigning, id-pkix-ocsp-nocheck, at most 30 days; a new one is issued when
less than a third of the current one's life is left. Its key is a file key (encrypted with the issuers'
passphrase) beside the issuer keys: the CA key itself never signs OCSP responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import SYSTEM, Actor
from ca.issuer import Issuer
from ca.keys.filekey import generate_private_key, load_private_key, read_passphrase, save_private_key
from ca.ledger import store
from ca.runtime import Runtime
from ca.x509.der import hash_for
from enrollment.issuance import issue_certificate


@dataclass(frozen=True)
class Responder:
    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes


def responder_key_path(key_dir: Path, issuer_name: str, serial: str) -> Path:
    return key_dir / "ocsp" / f"{issuer_name}-{serial}.key.pem"


def _needs_renewal(cert: x509.Certificate, now: object) -> bool:
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    return cert.not_valid_after_utc - now < life / 3  # type: ignore[operator]


def ensure_responder(runtime: Runtime, issuer: Issuer, actor: Actor = SYSTEM) -> Responder:
    """The issuer's current responder, issued (and its key saved) when missing or past 2/3 of its life."""
    settings = runtime.settings
    now = runtime.clock.now()
    passphrase = read_passphrase(settings.ca.passphrase_file)
    with runtime.sessionmaker() as session:
        record = store.latest_responder(session, issuer.id, now)
        current = (record.serial, x509.load_der_x509_certificate(record.der)) if record and record.der else None
    if current is not None:
        serial, cert = current
        path = responder_key_path(settings.ca.key_dir, issuer.name, serial)
        if path.exists() and not _needs_renewal(cert, now):
            return Responder(cert, load_private_key(path, passphrase))
    key = generate_private_key("ec-p256")
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{issuer.name} OCSP responder")])
    ).sign(key, hash_for("ec-p256"))
    days = min(settings.ocsp.responder_days, 30)
    issued = issue_certificate(runtime, actor, csr_data=csr.public_bytes(Encoding.DER), user_email=None,
                               profile_name="ocsp-responder", days=days, issuer_name=issuer.name)
    save_private_key(responder_key_path(settings.ca.key_dir, issuer.name, issued.serial), key, passphrase)
    return Responder(issued.certificate, key)


def responder_expiry_margin(cert: x509.Certificate) -> timedelta:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) / 3

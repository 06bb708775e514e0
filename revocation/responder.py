"""Delegated OCSP responder certificates, one per issuer (RFC 6960 §4.2.2.2; BR §7.1.2.8).

Profile `ocsp-responder`: EKU OCSPSigning, id-pkix-ocsp-nocheck, at most 30 days; a new one is issued when
two thirds of the current one's life have passed (ca.x509.validity.renewal_due). Its key is a file key
(encrypted with the issuers' passphrase) beside the issuer keys, behind the same Signer port as every
other key: the CA key itself never signs OCSP responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import SYSTEM, Actor
from ca.issuance import issue_certificate
from ca.issuer import Issuer
from ca.keys.filekey import FileSigner, generate_private_key, load_private_key, save_private_key
from ca.ledger import store
from ca.runtime import Runtime
from ca.secrets import read_passphrase
from ca.x509.signer import Signer, hash_for
from ca.x509.validity import renewal_due

RESPONDER_KEY_TYPE = "ec-p256"
MAX_RESPONDER_DAYS = 30


@dataclass(frozen=True)
class Responder:
    certificate: x509.Certificate
    signer: Signer


def responder_key_path(key_dir: Path, issuer_name: str, serial: str) -> Path:
    return key_dir / "ocsp" / f"{issuer_name}-{serial}.key.pem"


def current_responder(runtime: Runtime, issuer: Issuer) -> Responder | None:
    """The issuer's responder if one is current (key on disk, less than 2/3 of its life gone), else None."""
    settings = runtime.settings
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        record = store.latest_responder(session, issuer.id, now)
        if record is None or record.der is None:
            return None
        serial, cert = record.serial, x509.load_der_x509_certificate(record.der)
    path = responder_key_path(settings.ca.key_dir, issuer.name, serial)
    if not path.exists() or renewal_due(cert.not_valid_before_utc, cert.not_valid_after_utc, now):
        return None
    return Responder(cert, FileSigner(load_private_key(path, read_passphrase(settings.ca.passphrase_file))))


def ensure_responder(runtime: Runtime, issuer: Issuer, actor: Actor = SYSTEM) -> Responder:
    """The issuer's current responder, issued (and its key saved) when missing or past 2/3 of its life."""
    current = current_responder(runtime, issuer)
    if current is not None:
        return current
    settings = runtime.settings
    passphrase = read_passphrase(settings.ca.passphrase_file)
    key = generate_private_key(RESPONDER_KEY_TYPE)
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{issuer.name} OCSP responder")])
    ).sign(key, hash_for(RESPONDER_KEY_TYPE))
    days = min(settings.ocsp.responder_days, MAX_RESPONDER_DAYS)
    issued = issue_certificate(runtime, actor, csr_data=csr.public_bytes(Encoding.DER), user_email=None,
                               profile_name="ocsp-responder", days=days, issuer_name=issuer.name)
    save_private_key(responder_key_path(settings.ca.key_dir, issuer.name, issued.serial), key, passphrase)
    return Responder(issued.certificate, FileSigner(key))

"""How an API client proves who it is at the token endpoint: a secret (RFC 6749 §2.3.1) or a certificate
of its company (RFC 8705 §2.1, `tls_client_auth`).

Secrets are 256 random bits, stored as argon2id hashes like passwords (enrollment.accounts.passwords).
A certificate is accepted only when it is in the ledger, issued (not revoked: read on every call), valid
now and of the client's company, and when it matches the registration: its subject DN (§2.1.2
`tls_client_auth_subject_dn`), a dNSName of its SAN (`tls_client_auth_san_dns`), or its SHA-256 (pinned).
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.errors import BadRequestError
from ca.ledger import portal_store
from ca.ledger.api_client_models import ApiClient
from ca.runtime import Runtime
from ca.vocabulary import CertificateStatus
from enrollment.accounts.passwords import hash_password, verify_password
from enrollment.api_clients.views import TLS_CLIENT_AUTH, ApiClientView

SECRET_BYTES = 32


def new_client_secret() -> tuple[str, str]:
    """(secret shown once, its argon2id hash kept in the ledger)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return secret, hash_password(secret)


def secret_matches(client: ApiClientView, secret: str) -> bool:
    """Constant work whether or not the client has a secret (verify_password burns a dummy hash)."""
    return verify_password(client.secret_hash if client.auth_method != TLS_CLIENT_AUTH else None, secret)


def x5t_s256(certificate_der: bytes) -> str:
    """The certificate's SHA-256 thumbprint, base64url without padding (RFC 8705 §3.1 `x5t#S256`)."""
    return base64.urlsafe_b64encode(hashlib.sha256(certificate_der).digest()).rstrip(b"=").decode("ascii")


def load_certificate(data: bytes) -> x509.Certificate:
    try:
        return (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                else x509.load_der_x509_certificate(data))
    except ValueError:
        raise BadRequestError("the certificate is neither PEM nor DER") from None


def _san_dns(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in extension.value.get_values_for_type(x509.DNSName)]


def matches_registration(row: ApiClient | ApiClientView, certificate: x509.Certificate) -> bool:
    """RFC 8705 §2.1.2: the one registered attribute must match the presented certificate."""
    der = certificate.public_bytes(Encoding.DER)
    if row.tls_cert_sha256:
        return secrets.compare_digest(row.tls_cert_sha256, hashlib.sha256(der).hexdigest())
    if row.tls_subject_dn:
        return x509.Name.from_rfc4514_string(row.tls_subject_dn) == certificate.subject
    if row.tls_san_dns:
        return row.tls_san_dns.lower() in _san_dns(certificate)
    return False


def company_certificate_live(runtime: Runtime, certificate_der: bytes, company_id: int | None) -> bool:
    """The exact certificate is in the ledger, issued (not revoked), valid now, and the company's when one is
    named. Read on every call, like the gate: a revocation takes effect at once (DESIGN §5)."""
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        record = portal_store.find_certificate_by_der_hash(session, hashlib.sha256(certificate_der).hexdigest())
        return (record is not None and record.der == certificate_der and record.status == CertificateStatus.ISSUED
                and (company_id is None or record.company_id == company_id)
                and record.not_before <= now <= record.not_after)


def certificate_authenticates(runtime: Runtime, client: ApiClientView, certificate_der: bytes) -> bool:
    if client.auth_method != TLS_CLIENT_AUTH or not client.active:
        return False
    certificate = x509.load_der_x509_certificate(certificate_der)
    return matches_registration(client, certificate) and company_certificate_live(
        runtime, certificate_der, client.company_id)

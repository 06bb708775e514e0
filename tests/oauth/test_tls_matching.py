"""RFC 8705 §2.1.2: a tls_client_auth registration names exactly one attribute, and only that one matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from enrollment.api_clients.credentials import matches_registration, x5t_s256
from enrollment.api_clients.registration import TlsBinding
from enrollment.api_clients.views import ApiClientView


def _certificate(cn: str, dns: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Demo"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
            .sign(key, hashes.SHA256()))


def _view(**columns: str | None) -> ApiClientView:
    return ApiClientView(client_id="c", name="n", company="E", company_id=1, scopes=("users:read",),
                         auth_method="tls_client_auth", tls_subject_dn=columns.get("tls_subject_dn"),
                         tls_san_dns=columns.get("tls_san_dns"), tls_cert_sha256=columns.get("tls_cert_sha256"),
                         created_at=datetime.now(UTC), created_by="t", revoked_at=None)


def test_each_binding_matches_its_certificate_only():
    mine, other = _certificate("robot", "robot.example.com"), _certificate("other", "other.example.com")
    for binding in (TlsBinding(subject_dn=mine.subject.rfc4514_string()), TlsBinding(san_dns="ROBOT.example.com"),
                    TlsBinding(certificate=mine.public_bytes(Encoding.PEM))):
        view = _view(**binding.columns())
        assert matches_registration(view, mine), binding
        assert not matches_registration(view, other), binding
    # The subject is compared as a name, not as text: the DN typed by hand (RFC 4514 order) matches.
    typed = _view(**TlsBinding(subject_dn=" CN=robot,O=Demo ").columns())
    assert matches_registration(typed, mine)


def test_thumbprint_is_base64url_sha256_without_padding():
    certificate = _certificate("robot", "robot.example.com")
    value = x5t_s256(certificate.public_bytes(Encoding.DER))
    assert len(value) == 43 and "=" not in value and "+" not in value and "/" not in value

"""Issuance as DESIGN §4: validate, record intent, sign once, record result."""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from ca import certificates, issuance
from ca.errors import BadCSRError, BadRequestError, NotAuthorizedError
from ca.ledger import issuance_store, store
from ca.ledger.models import CertificateRecord
from ca.x509 import serials as serials_module
from ca.x509.keycheck import spki_sha256
from enrollment.accounts import users as accounts
from tests.conftest import EIC
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import build_bad_csrs, good_csr


def _issue(runtime, operator, csr: bytes, **kwargs):
    return issuance.issue_certificate(runtime, operator, csr_data=csr, user_email="alice@example.com", **kwargs)


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048"])
def test_browser_certificate_content(runtime, operator, session_pki, key_type):
    _key, csr = good_csr(key_type)
    issued = _issue(runtime, operator, csr)
    cert = issued.certificate
    cert.verify_directly_issued_by(session_pki.issuer)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "Alice Martin"
    assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0].value == EIC
    assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "Demo Producer"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment == key_type.startswith("rsa")
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert {d.access_location.value for d in aia} == {
        "http://127.0.0.1:8080/pki/ocsp", f"http://127.0.0.1:8080/pki/ca/{session_pki.issuer_name}.crt"}
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == f"http://127.0.0.1:8080/pki/crl/{session_pki.issuer_name}.crl"
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 365
    with runtime.sessionmaker() as session:
        row = store.get_certificate(session, issued.serial)
        assert row.status == "issued" and row.der == cert.public_bytes(serialization.Encoding.DER)
        assert row.spki_sha256 == spki_sha256(cert.public_key())


def test_csr_extensions_are_ignored_ca_true_gives_ca_false(runtime, operator):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "I am a CA")]))
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), critical=False)
           .sign(key, hashes.SHA256()))
    cert = _issue(runtime, operator, csr.public_bytes(serialization.Encoding.PEM)).certificate
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert "I am a CA" not in cert.subject.rfc4514_string()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == []


@pytest.mark.parametrize("name", sorted(build_bad_csrs()))
def test_bad_csr_changes_nothing(runtime, operator, name):
    before = snapshot(runtime)
    with pytest.raises(BadCSRError) as info:
        _issue(runtime, operator, build_bad_csrs()[name])
    assert "\n" not in str(info.value) and str(info.value)
    assert snapshot(runtime) == before


def test_blocked_key_is_refused(runtime, operator):
    key, csr = good_csr("ec-p256")
    with runtime.sessionmaker.begin() as session:
        store.add_blocked_key(session, spki_sha256=spki_sha256(key.public_key()), reason="test", at=runtime.clock.now())
    before = snapshot(runtime)
    with pytest.raises(BadCSRError, match="blocked"):
        _issue(runtime, operator, csr)
    assert snapshot(runtime) == before


def test_user_without_company_cannot_get_browser_certificate(runtime, operator):
    accounts.create_user(runtime, operator, email="op@example.com", full_name="Op", company_eic=None,
                         role="operator")
    before = snapshot(runtime)
    with pytest.raises(BadRequestError, match="company"):
        issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1], user_email="op@example.com")
    assert snapshot(runtime) == before


def test_user_cannot_issue_for_another_user(runtime, operator):
    from ca.actor import Actor

    accounts.create_user(runtime, operator, email="bob@example.com", full_name="Bob", company_eic=EIC)
    with runtime.sessionmaker() as session:
        bob = store.get_user_by_email(session, "bob@example.com")
    bob_actor = Actor(kind="user", name="bob@example.com", user_id=bob.id, company_id=bob.company_id, role="user")
    with pytest.raises(NotAuthorizedError):
        issuance.issue_certificate(runtime, bob_actor, csr_data=good_csr("ec-p256")[1],
                                   user_email="alice@example.com")
    issued = issuance.issue_certificate(runtime, bob_actor, csr_data=good_csr("ec-p256")[1],
                                        user_email="bob@example.com")
    assert certificates.show_certificate(runtime, bob_actor, issued.serial).user == "bob@example.com"


def test_validity_bounds(runtime, operator):
    with pytest.raises(BadRequestError, match="825"):
        _issue(runtime, operator, good_csr("ec-p256")[1], days=826)
    assert (_issue(runtime, operator, good_csr("ec-p256")[1], days=825).certificate.not_valid_after_utc
            - runtime.clock.now()).days == 825


def test_tls_server_profile(runtime, operator):
    cert = _issue(runtime, operator, good_csr("ec-p256")[1], profile_name="tls-server",
                  dns_names=("portal.example", "127.0.0.1")).certificate
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["portal.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]


def test_serials_of_1000_issued_certificates(runtime, operator):
    _key, csr = good_csr("ec-p256")
    started = time.time()
    texts = [_issue(runtime, operator, csr).serial for _ in range(1000)]
    ended = time.time()
    serials = [int(text, 16) for text in texts]
    assert len(set(serials)) == 1000
    # Positive and exactly 20 octets as a DER INTEGER (RFC 5280 §4.1.2.2), 40 hex digits in the ledger: the
    # text order is the numeric order.
    assert all(s.bit_length() == 159 for s in serials) and {len(text) for text in texts} == {40}
    # The random part (BR §7.1: at least 64 CSPRNG bits; ours has 116) is balanced bit by bit and over all,
    # and never repeats (a counter or a 32-bit value fails).
    randoms = [serials_module.random_part(s) for s in serials]
    assert len(set(randoms)) == 1000 and serials_module.RANDOM_BITS >= 64
    ones = [sum((r >> i) & 1 for r in randoms) / len(randoms) for i in range(serials_module.RANDOM_BITS)]
    assert all(0.4 < share < 0.6 for share in ones)  # each position: ±6 standard deviations
    assert 0.48 < sum(ones) / len(ones) < 0.52
    # The leading part is the drawing time in ~1 ms ticks: serials sort by when they were drawn.
    ticks = [(s >> serials_module.RANDOM_BITS) & ((1 << serials_module.TIME_BITS) - 1) for s in serials]
    assert all(int(started * 1024) - 1 <= tick <= int(ended * 1024) + 1 for tick in ticks)


def test_crash_between_signing_and_second_commit(runtime, operator, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("injected crash after signing")

    monkeypatch.setattr(issuance_store, "mark_issued", crash)
    _key, csr = good_csr("ec-p256")
    with pytest.raises(RuntimeError, match="injected"):
        _issue(runtime, operator, csr)
    with runtime.sessionmaker() as session:
        rows = list(session.execute(select(CertificateRecord)).scalars())
    assert [(r.status, r.der) for r in rows] == [("pending", None)]
    monkeypatch.undo()
    issued = _issue(runtime, operator, csr)
    with runtime.sessionmaker() as session:
        rows = {r.serial: r for r in session.execute(select(CertificateRecord)).scalars()}
    assert len(rows) == 2 and rows[issued.serial].status == "issued"
    pending = [r for r in rows.values() if r.status == "pending"]
    assert len(pending) == 1 and pending[0].serial != issued.serial and pending[0].der is None

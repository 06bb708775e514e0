"""Certificates in the portal: server-side key generation (PKCS#12), CSR upload, downloads, approval policy,
"request deletion"."""

from __future__ import annotations

import functools
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7, pkcs12

from ca.ledger import store
from enrollment.requests.approval import set_approval_policy
from tests.portal.support import login, post
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import build_bad_csrs, good_csr

P12_PASSWORD = "my file password 2026"


def _generate(client, encryption: str = "modern", key_type: str = "ec-p256"):
    return post(client, "/certificates/generate", {"password": P12_PASSWORD, "password_confirmation": P12_PASSWORD,
                                                   "encryption": encryption, "key_type": key_type})


def _manual(runtime, world):
    set_approval_policy(runtime, world.actor("alice"), policy="manual")


@pytest.mark.parametrize("encryption", ["modern", "legacy"])
def test_server_side_key_generation_returns_a_p12_once(client, world, runtime, session_pki, encryption):
    login(client, world.emails["carol"])
    response = _generate(client, encryption)
    assert response.status_code == 200 and response.mimetype == "application/x-pkcs12"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.match(r'attachment; filename="carol-petit-[0-9a-f]{8}\.p12"', response.headers["Content-Disposition"])
    loaded = pkcs12.load_pkcs12(response.data, P12_PASSWORD.encode())
    cert = loaded.cert.certificate
    assert loaded.cert.friendly_name == b"Carol Petit (Demo Producer)"
    assert loaded.key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert [c.certificate for c in loaded.additional_certs] == [session_pki.issuer, session_pki.root]
    cert.verify_directly_issued_by(session_pki.issuer)
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name) == ["carol@example.com"]
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(response.data, b"wrong password")
    with runtime.sessionmaker() as session:
        serial = format(cert.serial_number, "x")
        serial = serial if len(serial) % 2 == 0 else "0" + serial
        row = store.get_certificate(session, serial)
        assert row.status == "issued" and row.request_id is not None
    # The key is not kept: nothing offers the .p12 again, only the certificate.
    page = client.get(f"/certificates/{serial}").get_data(as_text=True)
    assert ".p12" not in page and "download/pem" in page


def test_rsa_key_generation(client, world):
    login(client, world.emails["carol"])
    loaded = pkcs12.load_pkcs12(_generate(client, "legacy", "rsa-2048").data, P12_PASSWORD.encode())
    assert loaded.key.key_size == 2048


def test_p12_password_rules(client, world, runtime):
    login(client, world.emails["carol"])
    before = snapshot(runtime)
    response = post(client, "/certificates/generate", {"password": "short", "password_confirmation": "short"})
    assert response.status_code == 400 and "at least 8" in response.get_data(as_text=True)
    response = post(client, "/certificates/generate", {"password": P12_PASSWORD, "password_confirmation": "other"})
    assert response.status_code == 400
    response = post(client, "/certificates/generate", {"password": P12_PASSWORD, "password_confirmation": P12_PASSWORD,
                                                       "encryption": "rc2-40"})
    assert response.status_code == 400
    assert snapshot(runtime) == before


def test_csr_upload_and_downloads(client, world, session_pki):
    login(client, world.emails["carol"])
    key, csr = good_csr("ec-p256")
    response = post(client, "/certificates/upload", {"csr": csr.decode()})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/certificates/downloaded?kind=csr&serial=")
    serial = response.headers["Location"].rsplit("serial=", 1)[1]
    pem = client.get(f"/certificates/{serial}/download/pem")
    cert = x509.load_pem_x509_certificate(pem.data)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    der = client.get(f"/certificates/{serial}/download/der")
    assert der.mimetype == "application/pkix-cert" and der.data == cert.public_bytes(Encoding.DER)
    bundle = client.get(f"/certificates/{serial}/download/p7b")
    # certificates is a SET OF in DER order (RFC 2315 §9.1), so compare as a set
    assert set(pkcs7.load_der_pkcs7_certificates(bundle.data)) == {cert, session_pki.issuer, session_pki.root}
    assert client.get(f"/certificates/{serial}/download/key").status_code == 400


def test_csr_upload_as_a_der_file(client, world):
    login(client, world.emails["carol"])
    _key, csr = good_csr("rsa-2048")
    der = x509.load_pem_x509_csr(csr).public_bytes(Encoding.DER)
    from io import BytesIO

    response = post(client, "/certificates/upload", {"csr_file": (BytesIO(der), "me.csr")},
                    content_type="multipart/form-data")
    assert response.status_code == 302 and "/certificates/" in response.headers["Location"]


@functools.cache
def _bad_csrs() -> dict[str, bytes]:
    return build_bad_csrs()


def test_bad_csrs_change_nothing(client, world, runtime):
    login(client, world.emails["carol"])
    before = snapshot(runtime)
    for name, data in sorted(_bad_csrs().items()):
        response = post(client, "/certificates/upload", {"csr": data.decode("latin-1")})
        assert response.status_code in (400, 413), name  # 413: larger than the upload limit
    assert snapshot(runtime) == before


def test_manual_policy_csr_waits_for_approval(client, world, runtime, app):
    _manual(runtime, world)
    login(client, world.emails["carol"])
    _key, csr = good_csr("ec-p256")
    response = post(client, "/certificates/upload", {"csr": csr.decode()})
    assert response.headers["Location"] == "/requests"
    page = client.get("/requests").get_data(as_text=True)
    assert "pending" in page
    request_id = int(re.search(r"<td>(\d+)</td>", page).group(1))
    admin = app.test_client()
    login(admin, world.emails["bob"])
    assert f"#{request_id}" in admin.get("/admin/requests").get_data(as_text=True) or \
        f"<td>{request_id}</td>" in admin.get("/admin/requests").get_data(as_text=True)
    assert post(admin, f"/admin/requests/{request_id}/approve", {"comment": "ok"}).status_code == 302
    page = client.get("/requests").get_data(as_text=True)
    assert "issued" in page
    assert len(client.get("/certificates").get_data(as_text=True).split("download/pem")) == 2


def test_rejection_needs_a_comment(client, world, runtime, app):
    _manual(runtime, world)
    login(client, world.emails["carol"])
    _key, csr = good_csr("ec-p256")
    post(client, "/certificates/upload", {"csr": csr.decode()})
    admin = app.test_client()
    login(admin, world.emails["alice"])
    request_id = int(re.search(r"<td>(\d+)</td>", admin.get("/admin/requests").get_data(as_text=True)).group(1))
    before = snapshot(runtime)
    assert post(admin, f"/admin/requests/{request_id}/reject", {"comment": " "}).status_code == 400
    assert snapshot(runtime) == before
    assert post(admin, f"/admin/requests/{request_id}/reject", {"comment": "use your team account"}
                ).status_code == 302
    assert "use your team account" in client.get("/requests").get_data(as_text=True)
    assert post(admin, f"/admin/requests/{request_id}/approve").status_code == 400


def test_manual_policy_key_generation_is_collected_once_after_approval(client, world, runtime, app):
    _manual(runtime, world)
    login(client, world.emails["carol"])
    response = post(client, "/certificates/generate", {})
    assert response.headers["Location"] == "/requests"
    page = client.get("/requests").get_data(as_text=True)
    request_id = int(re.search(r"<td>(\d+)</td>", page).group(1))
    form = {"password": P12_PASSWORD, "password_confirmation": P12_PASSWORD, "encryption": "legacy"}
    assert post(client, f"/requests/{request_id}/collect", form).status_code == 400  # not approved yet
    admin = app.test_client()
    login(admin, world.emails["bob"])
    post(admin, f"/admin/requests/{request_id}/approve")
    response = post(client, f"/requests/{request_id}/collect", form)
    assert response.mimetype == "application/x-pkcs12"
    pkcs12.load_pkcs12(response.data, P12_PASSWORD.encode())
    before = snapshot(runtime)
    assert post(client, f"/requests/{request_id}/collect", form).status_code == 400  # only once
    assert snapshot(runtime) == before
    # Nobody else may collect it.
    dave = app.test_client()
    login(dave, world.emails["dave"])
    assert post(dave, f"/requests/{request_id}/collect", form).status_code == 404


def test_request_deletion_revokes_at_once(client, world, runtime):
    login(client, world.emails["carol"])
    _key, csr = good_csr("ec-p256")
    serial = post(client, "/certificates/upload", {"csr": csr.decode()}).headers["Location"].rsplit("serial=", 1)[1]
    page = client.get(f"/certificates/{serial}/revoke").get_data(as_text=True)
    assert "I no longer need it" in page and "affiliationChanged" not in page
    before = snapshot(runtime)
    assert post(client, f"/certificates/{serial}/revoke", {"reason": "affiliationChanged"}).status_code == 400
    assert snapshot(runtime) == before
    assert post(client, f"/certificates/{serial}/revoke", {"reason": "cessationOfOperation"}).status_code == 302
    with runtime.sessionmaker() as session:
        row = store.get_certificate(session, serial)
        assert row.status == "revoked" and row.revocation_reason == "cessationOfOperation"
    assert post(client, f"/certificates/{serial}/revoke", {"reason": "cessationOfOperation"}).status_code == 409


def test_my_certificates_lists_only_mine(client, world, app):
    for name in ("carol", "dave"):
        other = app.test_client()
        login(other, world.emails[name])
        _generate(other)
    login(client, world.emails["carol"])
    page = client.get("/certificates").get_data(as_text=True)
    assert page.count("download/pem") == 1

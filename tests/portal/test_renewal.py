"""Renewal (issue 11 §2): a successor without a new approval, linked to its predecessor, which is revoked
`superseded` at the successor's first front-office use or at the grace deadline; portal, API and CLI."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from ca.errors import BadRequestError, ConflictError, NotAuthorizedError, NotFoundError
from ca.issuance import issue_certificate
from ca.ledger import store
from ca.revoke import revoke_certificate
from ca.supersession import supersede_past_grace
from enrollment.requests.approval import set_approval_policy
from enrollment.requests.renewal import renew_with_csr, renew_with_generated_key
from tests.portal.support import login, post
from tests.support.ledger import snapshot
from tests.support.tools import require_tool
from tests.vectors.bad_csrs import good_csr

P12_PASSWORD = "my renewal password 2026"


def issue_for(runtime, world, name: str = "carol") -> str:
    _key, csr = good_csr("ec-p256")
    return issue_certificate(runtime, world.actor(name), csr_data=csr, user_email=world.emails[name]).serial


def row(runtime, serial: str):
    with runtime.sessionmaker() as session:
        return store.get_certificate(session, serial)


def actions(runtime) -> list[str]:
    from sqlalchemy import select

    from ca.ledger.models import AuditEvent

    with runtime.sessionmaker() as session:
        return list(session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_renewal_links_successor_without_approval_and_grace_revokes(runtime, world, clock, session_pki):
    set_approval_policy(runtime, world.actor("alice"), policy="manual")  # a first request would wait
    old = issue_for(runtime, world)
    _key, csr = good_csr("ec-p256")
    renewal = renew_with_csr(runtime, world.actor("carol"), serial=old, csr_data=csr)
    new = row(runtime, renewal.successor)
    assert new.status == "issued" and new.predecessor_id == row(runtime, old).id
    assert new.user_id == world.id("carol") and new.profile == "browser"
    successor = x509.load_pem_x509_certificate(renewal.pem)
    successor.verify_directly_issued_by(session_pki.issuer)
    assert "certificate.renewed" in actions(runtime)
    # Both stay valid meanwhile; the views link both ways.
    from enrollment.requests.downloads import get_certificate

    assert get_certificate(runtime, world.actor("carol"), serial=old).successor == renewal.successor
    assert get_certificate(runtime, world.actor("carol"), serial=renewal.successor).predecessor == old
    assert row(runtime, old).status == "issued"
    # A second renewal of the same predecessor is a conflict and changes nothing.
    before = snapshot(runtime)
    with pytest.raises(ConflictError):
        renew_with_csr(runtime, world.actor("carol"), serial=old, csr_data=good_csr("ec-p256")[1])
    assert snapshot(runtime) == before
    # Before the grace deadline nothing happens; after it the predecessor is revoked superseded.
    clock.advance(timedelta(days=13, hours=23))
    assert supersede_past_grace(runtime) == []
    clock.advance(timedelta(hours=2))
    assert supersede_past_grace(runtime) == [old]
    revoked = row(runtime, old)
    assert revoked.status == "revoked" and revoked.revocation_reason == "superseded"
    assert "certificate.superseded" in actions(runtime)
    assert supersede_past_grace(runtime) == []


def test_renewal_refusals_change_nothing(runtime, world):
    old = issue_for(runtime, world)
    other = issue_for(runtime, world, "dave")
    before = snapshot(runtime)
    _key, csr = good_csr("ec-p256")
    with pytest.raises(NotFoundError):  # another company's person does not even see it
        renew_with_csr(runtime, world.actor("frank"), serial=old, csr_data=csr)
    with pytest.raises(NotAuthorizedError):  # an administrator sees it but is not the holder
        renew_with_csr(runtime, world.actor("alice"), serial=old, csr_data=csr)
    with pytest.raises(NotFoundError):
        renew_with_csr(runtime, world.actor("carol"), serial=other, csr_data=csr)
    with pytest.raises(BadRequestError):
        renew_with_csr(runtime, world.actor("carol"), serial=old, csr_data=b"not a CSR")
    with pytest.raises(BadRequestError):
        renew_with_generated_key(runtime, world.actor("carol"), serial=old, password="short")
    assert snapshot(runtime) == before
    revoke_certificate(runtime, world.actor("carol"), serial=old, reason="cessationOfOperation")
    before = snapshot(runtime)
    with pytest.raises(BadRequestError, match="revoked"):
        renew_with_csr(runtime, world.actor("carol"), serial=old, csr_data=csr)
    assert snapshot(runtime) == before


def test_portal_renewal_both_ways_and_pages(client, runtime, world, session_pki):
    old = issue_for(runtime, world)
    login(client, world.emails["carol"])
    listing = client.get("/certificates").get_data(as_text=True)
    assert f"/certificates/{old}/renew" in listing and "expires in 365 days" in listing
    form = client.get(f"/certificates/{old}/renew").get_data(as_text=True)
    assert f"/certificates/{old}/renew/generate" in form and f"/certificates/{old}/renew/upload" in form
    # A generated key: the .p12 of the successor.
    response = post(client, f"/certificates/{old}/renew/generate",
                    {"password": P12_PASSWORD, "password_confirmation": P12_PASSWORD, "encryption": "modern"})
    assert response.status_code == 200 and response.mimetype == "application/x-pkcs12"
    loaded = pkcs12.load_pkcs12(response.data, P12_PASSWORD.encode())
    assert loaded.cert is not None
    serial = format(loaded.cert.certificate.serial_number, "x")
    serial = serial if len(serial) % 2 == 0 else "0" + serial
    assert row(runtime, serial).predecessor_id == row(runtime, old).id
    detail = client.get(f"/certificates/{serial}").get_data(as_text=True)
    assert f"/certificates/{old}" in detail and "Renews" in detail and "expires in 365 days" in detail
    assert "Renewed as" in client.get(f"/certificates/{old}").get_data(as_text=True)
    # The renewed one offers no second renewal; a bad CSR on the upload path is a 400 with the form again.
    assert f"/certificates/{old}/renew\"" not in client.get("/certificates").get_data(as_text=True)
    second = issue_for(runtime, world)
    bad = post(client, f"/certificates/{second}/renew/upload", {"csr": "garbage"})
    assert bad.status_code == 400 and "Renew certificate" in bad.get_data(as_text=True)
    _key, csr = good_csr("ec-p256")
    done = post(client, f"/certificates/{second}/renew/upload", {"csr": csr.decode()})
    assert done.status_code == 302
    assert done.headers["Location"].startswith("/certificates/downloaded?kind=csr&serial=")
    successor = done.headers["Location"].rsplit("serial=", 1)[1]
    assert row(runtime, successor).predecessor_id == row(runtime, second).id
    # The administrators see the renewals in the company list.
    client.post("/logout", data={"csrf_token": ""})
    admin = client.application.test_client()
    login(admin, world.emails["alice"])
    company = admin.get("/admin/certificates").get_data(as_text=True)
    assert "renewed as" in company and "renews" in company


def test_api_renewal(client, runtime, world):
    old = issue_for(runtime, world)
    login(client, world.emails["carol"])
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    _key, csr = good_csr("ec-p256")
    refused = client.post(f"/api/v1/certificates/{old}/renew", json={"csr": csr.decode()})
    assert refused.status_code == 400  # no CSRF token
    bad = client.post(f"/api/v1/certificates/{old}/renew", json={"csr": 5}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and "csr must be a string" in bad.get_json()["error"]["message"]
    response = client.post(f"/api/v1/certificates/{old}/renew", json={"csr": csr.decode()},
                           headers={"X-CSRF-Token": token})
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()
    assert data["predecessor"] == old and data["successor"] is None and data["status"] == "issued"
    assert x509.load_pem_x509_certificate(data["pem"].encode()).serial_number == int(data["serial"], 16)
    again = client.post(f"/api/v1/certificates/{old}/renew", json={"csr": csr.decode()},
                        headers={"X-CSRF-Token": token})
    assert again.status_code == 409
    assert client.get(f"/api/v1/certificates/{old}").get_json()["successor"] == data["serial"]


def test_cli_renew_and_show(runner, runtime, world, tmp_path, session_pki):
    from cli.main import cli

    old = issue_for(runtime, world)
    key, csr = good_csr("ec-p256")
    (tmp_path / "renew.csr").write_bytes(csr)
    out = tmp_path / "successor.pem"
    result = runner.invoke(cli, ["cert", "renew", old, "--csr", str(tmp_path / "renew.csr"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    successor = x509.load_pem_x509_certificate(out.read_bytes())
    serial = format(successor.serial_number, "x")
    serial = serial if len(serial) % 2 == 0 else "0" + serial
    shown = json.loads(runner.invoke(cli, ["cert", "show", old, "--format", "json"]).output)
    assert shown["successor"] == serial and shown["predecessor"] is None
    shown = json.loads(runner.invoke(cli, ["cert", "show", serial, "--format", "json"]).output)
    assert shown["predecessor"] == old and shown["successor"] is None
    # openssl verifies the successor against the chain.
    openssl = require_tool("openssl")
    (tmp_path / "root.pem").write_bytes(session_pki.root.public_bytes(Encoding.PEM))
    (tmp_path / "issuer.pem").write_bytes(session_pki.issuer.public_bytes(Encoding.PEM))
    verified = subprocess.run([openssl, "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                               str(tmp_path / "issuer.pem"), "-purpose", "sslclient", str(out)],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0 and ": OK" in verified.stdout, verified.stdout + verified.stderr
    # A second renewal is refused with one error line, and --out is not written.
    before = snapshot(runtime)
    again = runner.invoke(cli, ["cert", "renew", old, "--csr", str(tmp_path / "renew.csr"),
                                "--out", str(tmp_path / "again.pem")])
    assert again.exit_code != 0 and "already renewed" in again.output
    assert not (tmp_path / "again.pem").exists() and snapshot(runtime) == before


def test_two_renewals_at_the_same_instant_make_one_successor(runtime, world):
    """Both renewals pass the early check together (a barrier holds them after it); the intent transaction's
    claim on the predecessor lets one through and refuses the other with a conflict: one live successor."""
    import threading

    from enrollment.requests import renewal as renewal_module

    old = issue_for(runtime, world)
    early_check = renewal_module.check_renewable
    barrier = threading.Barrier(2, timeout=30)

    def held_check(*args, **kwargs):
        found = early_check(*args, **kwargs)
        barrier.wait()
        return found

    outcomes: list[object] = []

    def renew() -> None:
        try:
            outcomes.append(renew_with_csr(runtime, world.actor("carol"), serial=old, csr_data=good_csr("ec-p256")[1]))
        except ConflictError as error:
            outcomes.append(error)

    renewal_module.check_renewable = held_check
    try:
        threads = [threading.Thread(target=renew) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        renewal_module.check_renewable = early_check
    successes = [o for o in outcomes if not isinstance(o, ConflictError)]
    refusals = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(successes) == 1 and len(refusals) == 1, outcomes
    assert "already renewed" in str(refusals[0])
    from sqlalchemy import select

    from ca.ledger.models import CertificateRecord

    with runtime.sessionmaker() as session:
        successors = session.execute(select(CertificateRecord.serial, CertificateRecord.status)
                                     .where(CertificateRecord.predecessor_id == row(runtime, old).id)).all()
    assert [s for s, status in successors if status in ("pending", "issued")] == [successes[0].successor]

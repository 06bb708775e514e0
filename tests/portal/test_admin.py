"""Company administration: detaching, groups, the company's certificates, unused ones, the audit trail."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from sqlalchemy import select

from ca import issuance
from ca.ledger import portal_store, store
from ca.ledger.models import AuditEvent, CertificateRecord
from enrollment.requests.approval import set_approval_policy
from revocation.ocsp import OCSPService
from tests.portal.support import login, post
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import good_csr


def _issue(runtime, world, name: str) -> str:
    _key, csr = good_csr("ec-p256")
    return issuance.issue_certificate(runtime, world.actor(name), csr_data=csr,
                                      user_email=world.emails[name]).serial


def _row(runtime, serial: str) -> CertificateRecord:
    with runtime.sessionmaker() as session:
        return store.get_certificate(session, serial)


# --- detaching -----------------------------------------------------------------------------------------
def test_detach_revokes_every_certificate_in_one_transaction(app, client, world, runtime):
    serials = [_issue(runtime, world, "carol") for _ in range(3)]
    other = _issue(runtime, world, "dave")
    carol = app.test_client()
    login(carol, world.emails["carol"])
    login(client, world.emails["alice"])
    page = client.get(f"/admin/users/{world.id('carol')}/detach").get_data(as_text=True)
    assert all(s in page for s in serials)  # the confirmation shows exactly what will be revoked
    assert post(client, f"/admin/users/{world.id('carol')}/detach").status_code == 302
    for serial in serials:
        row = _row(runtime, serial)
        assert row.status == "revoked" and row.revocation_reason == "affiliationChanged"
    assert _row(runtime, other).status == "issued"
    with runtime.sessionmaker() as session:
        user = portal_store.find_user_by_email(session, world.emails["carol"])
        assert user.company_id is None
        events = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    detached = next(e for e in events if e.action == "user.detached")
    assert detached.action == "user.detached" and detached.source_ip == "127.0.0.1"
    assert sorted(json.loads(detached.details)["revoked"]) == sorted(serials)
    # The revocations and the detachment were written by one transaction: consecutive events, same instant.
    revocations = [e for e in events if e.action == "certificate.revoked"]
    assert [e.id for e in revocations] == list(range(detached.id - 3, detached.id))
    # The detached person's old cookie no longer opens the company's pages.
    assert carol.get("/certificates/new").status_code == 302


def test_detach_is_seen_by_ocsp_at_once(client, world, runtime, session_pki):
    serial = _issue(runtime, world, "carol")
    cert = x509.load_der_x509_certificate(_row(runtime, serial).der)
    service = OCSPService(runtime, poll_seconds=0)
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, session_pki.issuer, hashes.SHA1()).build()
    der = request.public_bytes(Encoding.DER)
    assert ocsp.load_der_ocsp_response(service.respond(body=der).der).certificate_status == ocsp.OCSPCertStatus.GOOD
    login(client, world.emails["alice"])
    post(client, f"/admin/users/{world.id('carol')}/detach")
    answer = ocsp.load_der_ocsp_response(service.respond(body=der).der)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.affiliation_changed


def test_who_may_detach_whom(client, world, runtime):
    login(client, world.emails["bob"])  # an admin, not the first one
    before = snapshot(runtime)
    assert post(client, f"/admin/users/{world.id('alice')}/detach").status_code == 403
    assert post(client, f"/admin/users/{world.id('bob')}/detach").status_code == 400  # oneself
    assert post(client, f"/admin/users/{world.id('frank')}/detach").status_code == 404  # other company
    assert snapshot(runtime) == before
    login(client, world.emails["alice"])
    assert post(client, f"/admin/users/{world.id('bob')}/detach").status_code == 302


# --- groups --------------------------------------------------------------------------------------------
def test_group_with_members_services_and_perimeter(client, world, runtime):
    login(client, world.emails["alice"])
    response = post(client, "/admin/groups", {"name": "Metering team"})
    group_id = int(response.headers["Location"].rsplit("/", 1)[1])
    response = post(client, f"/admin/groups/{group_id}", {
        "name": "Metering team", "members": [str(world.id("carol")), str(world.id("dave"))],
        "services": ["metering", "losses"], "points": [str(world.points["PDL-A-001"])]})
    assert response.status_code == 302
    page = client.get("/admin/groups").get_data(as_text=True)
    assert "Carol Petit, Dave Leroy" in page and "Loss compensation, Metering data" in page and "PDL-A-001" in page


@pytest.mark.parametrize("field,value", [
    ("members", "frank"), ("points", "PDL-B-001"), ("services", "no-such-service")])
def test_group_refuses_other_company_objects_and_changes_nothing(client, world, runtime, field, value):
    login(client, world.emails["alice"])
    if field == "members":
        value = str(world.id(value))
    elif field == "points":
        value = str(world.points[value])
    before = snapshot(runtime)
    response = post(client, f"/admin/groups/{world.groups['A']}", {"name": "Traders", field: [value]})
    assert response.status_code == 404
    assert snapshot(runtime) == before
    # and another company's group is not found at all
    assert post(client, f"/admin/groups/{world.groups['B']}", {"name": "Mine now"}).status_code == 404
    assert client.get(f"/admin/groups/{world.groups['B']}").status_code == 404


def test_group_names_are_unique_per_company(client, world, runtime):
    login(client, world.emails["alice"])
    before = snapshot(runtime)
    assert post(client, "/admin/groups", {"name": "traders"}).status_code == 409
    assert snapshot(runtime) == before
    login(client, world.emails["erin"])
    assert post(client, "/admin/groups", {"name": "Traders"}).status_code == 302  # another company may


def test_delete_group(client, world):
    login(client, world.emails["alice"])
    assert post(client, f"/admin/groups/{world.groups['A']}/delete").status_code == 302
    assert client.get(f"/admin/groups/{world.groups['A']}").status_code == 404


# --- the company's certificates ------------------------------------------------------------------------
def test_company_certificates_filters_and_csv(client, world, runtime, clock):
    carol = _issue(runtime, world, "carol")
    clock.advance(timedelta(days=200))
    dave = _issue(runtime, world, "dave")
    _issue(runtime, world, "frank")  # another company: never listed
    login(client, world.emails["bob"])
    page = client.get("/admin/certificates").get_data(as_text=True)
    assert carol[:16] in page and dave[:16] in page
    assert client.get("/admin/certificates?user=dave@example.com").get_data(as_text=True).count("Revoke…") == 1
    expiring = client.get("/admin/certificates?expiring_days=200").get_data(as_text=True)
    assert carol[:16] in expiring and dave[:16] not in expiring
    unused = client.get("/admin/certificates?unused_days=100").get_data(as_text=True)
    assert carol[:16] in unused and dave[:16] not in unused
    response = client.get("/admin/certificates.csv?status=issued")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["serial"] for r in rows} == {carol, dave}
    assert {r["user"] for r in rows} == {"carol@example.com", "dave@example.com"}
    assert client.get("/admin/certificates?expiring_days=x").status_code == 400


def test_admin_revokes_with_an_admin_reason(client, world, runtime):
    serial = _issue(runtime, world, "carol")
    login(client, world.emails["bob"])
    assert "holder is no longer allowed" in client.get(f"/certificates/{serial}/revoke").get_data(as_text=True)
    assert post(client, f"/certificates/{serial}/revoke", {"reason": "privilegeWithdrawn"}).status_code == 302
    assert _row(runtime, serial).revocation_reason == "privilegeWithdrawn"


def test_unused_bulk_revocation_revokes_exactly_what_was_confirmed(client, world, runtime, clock):
    old = [_issue(runtime, world, "carol"), _issue(runtime, world, "dave")]
    foreign = _issue(runtime, world, "frank")
    clock.advance(timedelta(days=100))
    fresh = _issue(runtime, world, "carol")
    login(client, world.emails["alice"])
    page = client.get("/admin/unused?days=90").get_data(as_text=True)
    assert all(s in page for s in old) and fresh not in page and foreign not in page
    # One of them is used between the confirmation page and the click: it is skipped.
    with runtime.sessionmaker.begin() as session:
        store.get_certificate(session, old[1]).last_used_at = clock.now()
    # A serial smuggled into the form that was not unused (or belongs to another company) is skipped too.
    response = post(client, "/admin/unused", {"days": "90", "serial": old + [fresh, foreign]})
    assert response.status_code == 302
    assert _row(runtime, old[0]).status == "revoked"
    assert _row(runtime, old[1]).status == "issued"
    assert _row(runtime, fresh).status == "issued"
    assert _row(runtime, foreign).status == "issued"


def test_company_audit_trail_shows_only_the_company(client, world, runtime):
    set_approval_policy(runtime, world.actor("alice"), policy="manual")
    set_approval_policy(runtime, world.actor("erin"), policy="manual")
    login(client, world.emails["alice"])
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "company.policy_changed" in page and "alice@example.com" in page
    assert "erin@other.example" not in page and "10XFR-RTE------Q" not in page
    assert "127.0.0.1" in page


def test_approval_policy_is_the_first_admins_choice(client, world, runtime):
    login(client, world.emails["bob"])
    before = snapshot(runtime)
    assert post(client, "/admin/company", {"approval_policy": "manual"}).status_code == 403
    assert snapshot(runtime) == before
    login(client, world.emails["alice"])
    assert post(client, "/admin/company", {"approval_policy": "manual"}).status_code == 302
    assert post(client, "/admin/company", {"approval_policy": "sometimes"}).status_code == 400

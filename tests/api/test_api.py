"""The JSON API: session (with X-CSRF-Token) or client-certificate authentication, and its use cases."""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca import issuance
from ca.ledger import portal_store, store
from ca.revoke import revoke_certificate
from enrollment.requests.approval import set_approval_policy
from tests.portal.support import login
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import good_csr
from webapp.app import create_app


def _session(client, world, name: str) -> dict[str, str]:
    login(client, world.emails[name])
    me = client.get("/api/v1/me").get_json()
    assert me["email"] == world.emails[name]
    return {"X-CSRF-Token": me["csrf_token"]}


def _pem(runtime, world, name: str) -> tuple[str, str]:
    _key, csr = good_csr("ec-p256")
    issued = issuance.issue_certificate(runtime, world.actor(name), csr_data=csr, user_email=world.emails[name])
    return issued.serial, issued.certificate.public_bytes(Encoding.PEM).decode()


def test_openapi_document_is_public_and_lists_the_paths(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/requests" in document["paths"] and "/api/v1/company/groups/{group_id}" in document["paths"]


def test_anonymous_gets_401_json(client, world):
    response = client.get("/api/v1/certificates")
    assert response.status_code == 401 and response.get_json()["error"]["kind"] == "unauthenticated"


def test_request_a_certificate_with_the_session(client, world, runtime):
    headers = _session(client, world, "carol")
    _key, csr = good_csr("ec-p256")
    before = snapshot(runtime)
    assert client.post("/api/v1/requests", json={"csr": csr.decode()}).status_code == 400  # no CSRF header
    assert snapshot(runtime) == before
    response = client.post("/api/v1/requests", json={"csr": csr.decode()}, headers=headers)
    assert response.status_code == 201
    serial = response.get_json()["certificate_serial"]
    detail = client.get(f"/api/v1/certificates/{serial}").get_json()
    cert = x509.load_pem_x509_certificate(detail["pem"].encode())
    assert detail["status"] == "issued" and format(cert.serial_number, "x").endswith(serial.lstrip("0"))
    assert [c["serial"] for c in client.get("/api/v1/certificates").get_json()["items"]] == [serial]
    revoked = client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "superseded"}, headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    again = client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "superseded"}, headers=headers)
    assert again.status_code == 409 and again.get_json()["error"]["kind"] == "conflict"


def test_bad_json_is_a_400(client, world, runtime):
    headers = _session(client, world, "carol")
    before = snapshot(runtime)
    for body in ("not json", "[1, 2]"):
        response = client.post("/api/v1/requests", data=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400 and response.get_json()["error"]["kind"] == "bad_request"
    response = client.post("/api/v1/requests", json={"csr": "garbage"}, headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["kind"] == "bad_csr"
    assert snapshot(runtime) == before


def test_client_certificate_authentication(app, world, runtime):
    serial, pem = _pem(runtime, world, "carol")
    client = app.test_client()
    environ = {"SSL_CLIENT_CERT": pem}
    me = client.get("/api/v1/me", environ_base=environ)
    assert me.status_code == 200 and me.get_json()["email"] == world.emails["carol"]
    assert me.get_json()["csrf_token"] is None
    # No CSRF token is needed without a cookie: the certificate is the credential.
    _key, csr = good_csr("ec-p256")
    assert client.post("/api/v1/requests", json={"csr": csr.decode()}, environ_base=environ).status_code == 201
    # A revocation is seen at the next call (the ledger is read every time).
    revoke_certificate(runtime, world.actor("carol"), serial=serial, reason="superseded")
    response = client.get("/api/v1/me", environ_base=environ)
    assert response.status_code == 403


def test_certificate_authenticated_calls_from_another_site_are_refused(app, world, runtime):
    serial, pem = _pem(runtime, world, "carol")
    client = app.test_client()
    environ = {"SSL_CLIENT_CERT": pem}
    before = snapshot(runtime)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "superseded"},
                               environ_base=environ, headers=headers)
        assert response.status_code == 400 and response.get_json()["error"]["kind"] == "csrf"
    assert snapshot(runtime) == before
    same_site = client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "superseded"},
                            environ_base=environ,
                            headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same_site.status_code == 200


def test_client_certificate_not_from_this_ca_is_refused(app, world, runtime, session_pki):
    client = app.test_client()
    issuer_pem = session_pki.issuer.public_bytes(Encoding.PEM).decode()
    assert client.get("/api/v1/me", environ_base={"SSL_CLIENT_CERT": issuer_pem}).status_code == 403
    assert client.get("/api/v1/me", environ_base={"SSL_CLIENT_CERT": "garbage"}).status_code == 403


def test_client_certificate_from_a_configured_proxy_header(settings, runtime, world):
    portal = dataclasses.replace(settings.portal, client_cert_header="X-Client-Cert", trusted_proxies="127.0.0.1")
    app = create_app(dataclasses.replace(settings, portal=portal), runtime=runtime)
    _serial, pem = _pem(runtime, world, "dave")
    response = app.test_client().get("/api/v1/me", headers={"X-Client-Cert": quote(pem),
                                                            "X-SSL-Client-Verify": "SUCCESS"})
    assert response.get_json()["email"] == world.emails["dave"]
    # Without the setting, the header is ignored (anyone could send it).
    other = create_app(settings, runtime=runtime).test_client()
    assert other.get("/api/v1/me", headers={"X-Client-Cert": quote(pem)}).status_code == 401


def test_detached_user_certificate_stops_working(app, world, runtime):
    _serial, pem = _pem(runtime, world, "carol")
    admin = app.test_client()
    headers = _session(admin, world, "alice")
    response = admin.post(f"/api/v1/company/users/{world.id('carol')}/detach", headers=headers)
    assert response.status_code == 200 and len(response.get_json()["revoked"]) == 1
    assert app.test_client().get("/api/v1/me", environ_base={"SSL_CLIENT_CERT": pem}).status_code == 403


def test_admin_manages_users_groups_and_requests(client, world, runtime, mailbox):
    headers = _session(client, world, "alice")
    created = client.post("/api/v1/company/users", json={"email": "ivy@example.com", "full_name": "Ivy Blanc",
                                                         "role": "admin"}, headers=headers)
    assert created.status_code == 201 and created.get_json()["activation_mail_sent"] is True
    mailbox.wait_for("ivy@example.com")
    assert "ivy@example.com" in [u["email"] for u in client.get("/api/v1/company/users").get_json()["items"]]
    group = client.post("/api/v1/company/groups", json={"name": "Auction desk"}, headers=headers).get_json()
    changed = client.patch(f"/api/v1/company/groups/{group['id']}", headers=headers, json={
        "members": [world.id("carol")], "services": ["capacity-auctions"], "perimeter": [world.points["PDL-A-002"]]})
    assert changed.status_code == 200
    body = changed.get_json()
    assert [m["email"] for m in body["members"]] == [world.emails["carol"]]
    assert [s["code"] for s in body["services"]] == ["capacity-auctions"]
    assert [p["code"] for p in body["perimeter"]] == ["PDL-A-002"]
    before = snapshot(runtime)
    foreign = client.patch(f"/api/v1/company/groups/{group['id']}", headers=headers,
                           json={"perimeter": [world.points["PDL-B-001"]]})
    assert foreign.status_code == 404 and snapshot(runtime) == before
    assert client.delete(f"/api/v1/company/groups/{group['id']}", headers=headers).status_code == 204
    set_approval_policy(runtime, world.actor("alice"), policy="manual")
    carol = client.application.test_client()
    carol_headers = _session(carol, world, "carol")
    request_id = carol.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()},
                            headers=carol_headers).get_json()["request"]["id"]
    pending = client.get("/api/v1/company/requests").get_json()
    assert [r["id"] for r in pending["items"]] == [request_id] and pending["next"] is None
    assert client.post(f"/api/v1/company/requests/{request_id}/reject", json={}, headers=headers).status_code == 400
    approved = client.post(f"/api/v1/company/requests/{request_id}/approve", json={"comment": "ok"}, headers=headers)
    assert approved.status_code == 200 and approved.get_json()["status"] == "issued"
    serial = approved.get_json()["certificate_serial"]
    carol_id = world.id("carol")
    with runtime.sessionmaker() as session:
        assert store.get_certificate(session, serial).user_id == carol_id
    listed = client.get("/api/v1/company/certificates?status=issued").get_json()
    assert [c["serial"] for c in listed["items"]] == [serial] and listed["next"] is None


def test_other_company_objects_are_not_found(client, world, runtime):
    serial, _pem_text = _pem(runtime, world, "carol")
    headers = _session(client, world, "erin")
    before = snapshot(runtime)
    assert client.get(f"/api/v1/certificates/{serial}").status_code == 404
    assert client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "keyCompromise"},
                       headers=headers).status_code == 404
    assert client.get(f"/api/v1/company/groups/{world.groups['A']}").status_code == 404
    assert client.post(f"/api/v1/company/users/{world.id('carol')}/detach", headers=headers).status_code == 404
    assert client.get("/api/v1/company/certificates?user=carol@example.com").get_json() == {"items": [], "next": None}
    assert snapshot(runtime) == before


def test_ids_beyond_the_database_range_are_not_found(client, world):
    headers = _session(client, world, "alice")
    for method in ("GET", "PATCH", "DELETE"):
        response = client.open(f"/api/v1/company/groups/{2**64}", method=method, json={}, headers=headers)
        assert response.status_code == 404, method


def test_each_request_rereads_the_session_person_and_policy(app, world, runtime):
    """The session read of every call (issue 14 §1: one statement) still sees, at the very next request, a
    policy change, a detachment and a logout; the answer is the request as committed."""
    carol = app.test_client()
    headers = _session(carol, world, "carol")
    answer = carol.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=headers)
    assert answer.status_code == 201
    created = answer.get_json()
    listed = carol.get("/api/v1/requests").get_json()["items"]
    assert [r for r in listed if r["id"] == created["request"]["id"]] == [created["request"]]
    assert created["request"]["status"] == "issued" and created["request"]["certificate_serial"] == \
        created["certificate_serial"]
    set_approval_policy(runtime, world.actor("alice"), policy="manual")
    pending = carol.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=headers)
    assert pending.status_code == 201 and pending.get_json()["request"]["status"] == "pending"
    assert pending.get_json()["certificate_serial"] is None
    set_approval_policy(runtime, world.actor("alice"), policy="auto")
    admin = app.test_client()
    admin_headers = _session(admin, world, "alice")
    assert admin.post(f"/api/v1/company/users/{world.id('carol')}/detach", headers=admin_headers).status_code == 200
    before = snapshot(runtime)
    refused = carol.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=headers)
    assert refused.status_code == 401 and refused.get_json()["error"]["kind"] == "unauthenticated"
    assert snapshot(runtime) == before
    dave = app.test_client()
    dave_headers = _session(dave, world, "dave")
    with runtime.sessionmaker.begin() as session:  # deactivated behind the portal's back: no session ended
        portal_store.mark_user(session, portal_store.get_user(session, world.id("dave")), status="deactivated")
    before = snapshot(runtime)
    deactivated = dave.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=dave_headers)
    assert deactivated.status_code == 401 and snapshot(runtime) == before
    with runtime.sessionmaker.begin() as session:
        portal_store.mark_user(session, portal_store.get_user(session, world.id("dave")), status="active")
    dave_headers = _session(dave, world, "dave")
    assert dave.post("/logout", headers=dave_headers, data={"csrf_token": dave_headers["X-CSRF-Token"]}).status_code \
        in (302, 303)
    before = snapshot(runtime)
    ended = dave.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=dave_headers)
    assert ended.status_code in (400, 401) and snapshot(runtime) == before

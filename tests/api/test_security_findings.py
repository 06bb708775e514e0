"""Issue 13, findings 1 and 5 on the JSON API: a forwarded certificate header is believed only from a
trusted proxy that says SUCCESS, and a deeply nested JSON body is a 400, not a RecursionError."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ca import issuance
from ca.errors import BadRequestError
from ca.ledger.audit import list_events
from tests.portal.support import login
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import good_csr
from webapp.app import create_app

PROXY = "10.9.8.7"


def _pem(runtime, world, name: str) -> str:
    _key, csr = good_csr("ec-p256")
    issued = issuance.issue_certificate(runtime, world.actor(name), csr_data=csr, user_email=world.emails[name])
    return issued.certificate.public_bytes(Encoding.PEM).decode()


def _portal(settings, **values):
    portal = dataclasses.replace(settings.portal, **values)
    return dataclasses.replace(settings, portal=portal)


def _proxied_app(settings, runtime):
    return create_app(_portal(settings, client_cert_header="X-SSL-Client-Cert", trusted_proxies=PROXY,
                              proxy_verify_header="X-SSL-Client-Verify"), runtime=runtime)


def _refusals(runtime) -> list[dict]:
    with runtime.sessionmaker() as session:
        return [dict(json.loads(e.details or "{}"), source_ip=e.source_ip) for e in list_events(session)
                if e.action == "portal.certificate_refused"]


def _count(runtime, action: str) -> int:
    with runtime.sessionmaker() as session:
        return sum(1 for e in list_events(session, limit=10_000) if e.action == action)


def test_forged_certificate_header_from_a_non_proxy_address_is_refused_and_audited(settings, runtime, world):
    pem = quote(_pem(runtime, world, "alice"), safe="")
    client = _proxied_app(settings, runtime).test_client()
    forged = {"X-SSL-Client-Cert": pem, "X-SSL-Client-Verify": "SUCCESS"}
    before = snapshot(runtime)
    groups_before = _count(runtime, "group.created")
    listing = client.get("/api/v1/company/users", headers=forged, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert listing.status_code == 403, listing.get_data(as_text=True)
    assert "trusted proxy" in listing.get_json()["error"]["message"]
    created = client.post("/api/v1/company/groups", json={"name": "Hijack"}, headers=forged,
                          environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert created.status_code == 403
    after = snapshot(runtime)
    assert {k: v for k, v in after.items() if k != "audit_events"} == {
        k: v for k, v in before.items() if k != "audit_events"}
    assert _count(runtime, "group.created") == groups_before
    refusals = _refusals(runtime)
    assert len(refusals) == 2 and {r["source_ip"] for r in refusals} == {"203.0.113.9"}
    assert client.get("/api/v1/company/groups", headers=forged,
                      environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403


@pytest.mark.parametrize("verify", [None, "NONE", "FAILED:certificate has expired", "success"])
def test_forwarded_certificate_from_the_proxy_without_success_is_refused(settings, runtime, world, verify):
    pem = quote(_pem(runtime, world, "alice"), safe="")
    client = _proxied_app(settings, runtime).test_client()
    headers = {"X-SSL-Client-Cert": pem}
    if verify is not None:
        headers["X-SSL-Client-Verify"] = verify
    response = client.get("/api/v1/company/users", headers=headers, environ_base={"REMOTE_ADDR": PROXY})
    assert response.status_code == 403
    assert _refusals(runtime) and _refusals(runtime)[0]["source_ip"] == PROXY


def test_forwarded_certificate_from_the_proxy_with_success_is_accepted(settings, runtime, world):
    pem = quote(_pem(runtime, world, "alice"), safe="")
    client = _proxied_app(settings, runtime).test_client()
    response = client.get("/api/v1/me", environ_base={"REMOTE_ADDR": PROXY},
                          headers={"X-SSL-Client-Cert": pem, "X-SSL-Client-Verify": "SUCCESS"})
    assert response.status_code == 200 and response.get_json()["email"] == world.emails["alice"]
    assert _refusals(runtime) == []


def test_a_certificate_header_without_trusted_proxies_is_refused_at_start(settings, runtime):
    with pytest.raises(BadRequestError, match="trusted proxy"):
        create_app(_portal(settings, client_cert_header="X-SSL-Client-Cert"), runtime=runtime)


def test_deeply_nested_json_is_a_400(client, world, runtime):
    login(client, world.emails["alice"])
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    before = snapshot(runtime)
    for depth in (10_000, 100_000):
        body = "[" * depth + "]" * depth
        response = client.post("/api/v1/company/groups", data=body,
                                headers={"X-CSRF-Token": token, "Content-Type": "application/json"})
        assert response.status_code == 400, response.status_code
        assert response.get_json()["error"]["kind"] == "bad_request"
        nested = '{"name": ' + "[" * depth + "]" * depth + "}"
        response = client.post("/api/v1/company/groups", data=nested,
                               headers={"X-CSRF-Token": token, "Content-Type": "application/json"})
        assert response.status_code == 400
    assert snapshot(runtime) == before

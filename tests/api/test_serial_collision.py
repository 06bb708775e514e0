"""A serial collision reaches an API client as a 409 conflict with its message, never a 500 (issue 10 §4);
the ledger keeps one row per (issuer, serial) and no certificate row of the failed upload. Its request was
recorded before the intent (enrollment.requests.request_batcher), so it stays, `failed` with the reason, as
any request the CA refuses after recording it (enrollment.requests.approval); both steps are audited."""

from __future__ import annotations

from ca import issuance
from ca.x509.serials import parse_serial
from tests.api.test_api import _pem, _session
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import good_csr


def test_colliding_serials_are_a_409(client, world, runtime, monkeypatch):
    serial, _pem_text = _pem(runtime, world, "carol")
    headers = _session(client, world, "carol")
    monkeypatch.setattr(issuance, "random_serial_number", lambda: parse_serial(serial))
    before = snapshot(runtime)
    response = client.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=headers)
    assert response.status_code == 409, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["kind"] == "conflict" and "unique serial number" in error["message"]
    after = snapshot(runtime)
    assert after["certificates"] == before["certificates"]
    assert after["audit_events"] == before["audit_events"] + 2  # request.created, request.failed
    items = client.get("/api/v1/requests").get_json()["items"]
    assert [(r["status"], r["certificate_serial"]) for r in items] == [("failed", None)]
    assert "unique serial number" in items[0]["comment"]

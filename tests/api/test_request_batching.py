"""CSR uploads of concurrent callers are recorded and issued together (enrollment.requests.request_batcher,
issue 14 §1): each caller gets its own certificate or its own refusal, every request is linked to its
certificate and audited, the company's policy is the one committed at the call, and nothing of a refused
upload is recorded (a refusal after recording leaves the request `failed` with the reason)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import select

from ca.errors import BadCSRError, NotAuthorizedError
from ca.ledger import portal_store, request_batch_store, store
from ca.ledger.audit import verify_chain
from ca.ledger.models import AuditEvent, BlockedKey, CertificateRecord, CertificateRequest
from ca.x509.csr import checked_csr
from enrollment.requests import request_batcher
from enrollment.requests.approval import set_approval_policy
from tests.api.test_api import _session
from tests.vectors.bad_csrs import good_csr


def one_batch(runtime, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads that all queue before any batch starts (the batcher is held as if a batch
    were in flight), so that they make one batch; each call's result or exception, in order."""
    batcher = request_batcher._batcher_for(runtime)
    before = request_batcher.batch_counts(runtime)
    out: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            out[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 - compared by the test
            out[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    with batcher.held():
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while batcher.queued() < len(calls):
            assert time.monotonic() < deadline, "the calls did not queue"
            time.sleep(0.01)
    for thread in threads:
        thread.join(30)
    assert request_batcher.batch_counts(runtime)[0] - before[0] == 1
    return out


def upload(runtime, world, name: str, csr: bytes | None = None) -> Callable[[], Any]:
    actor = world.actor(name)
    checked = checked_csr(csr or good_csr("ec-p256")[1])
    return lambda: request_batcher.submit(runtime, actor, checked)


def _requests(runtime) -> dict[int, CertificateRequest]:
    with runtime.sessionmaker() as session:
        return {r.id: r for r in session.execute(select(CertificateRequest)).scalars()}


def _actions(runtime, object_id: str) -> list[str]:
    with runtime.sessionmaker() as session:
        return list(session.execute(select(AuditEvent.action).where(AuditEvent.object_id == object_id,
                                                          AuditEvent.object_type.in_(("request", "certificate")))
                                    .order_by(AuditEvent.id)).scalars())


def test_concurrent_uploads_are_one_batch_and_each_gets_its_own_certificate(runtime, world, monkeypatch):
    names = ["carol", "carol", "dave", "bob", "frank", "carol"]

    def not_needed(*args: object) -> None:
        raise AssertionError("the requests were to be marked issued in the certificates' own commit")

    monkeypatch.setattr(request_batch_store, "link_issued", not_needed)
    outcomes = one_batch(runtime, [upload(runtime, world, name) for name in names])
    assert all(o.serial and o.request.status == "issued" for o in outcomes), outcomes
    assert len({o.serial for o in outcomes}) == len(names) and len({o.request.id for o in outcomes}) == len(names)
    rows, ids = _requests(runtime), {name: world.id(name) for name in names}
    with runtime.sessionmaker() as session:
        for name, outcome in zip(names, outcomes, strict=True):
            request = rows[outcome.request.id]
            assert request.status == "issued" and request.user_id == ids[name]
            assert outcome.request.user == world.emails[name]
            certificate = session.execute(select(CertificateRecord).where(
                CertificateRecord.serial == outcome.serial)).scalar_one()
            assert certificate.request_id == request.id and certificate.company_id == request.company_id
            assert certificate.status == "issued" and certificate.der
            assert format(x509.load_der_x509_certificate(certificate.der).serial_number, "x").endswith(
                outcome.serial.lstrip("0").lower())
        assert verify_chain(session)[2] == []
    for outcome in outcomes:
        assert _actions(runtime, str(outcome.request.id)) == ["request.created", "request.issued"]
        assert _actions(runtime, outcome.serial) == ["certificate.issued"]


def test_one_bad_upload_fails_alone_and_the_policy_is_read_at_the_call(runtime, world, monkeypatch):
    blocked_key, late_key = good_csr("ec-p256")[1], good_csr("ec-p256")[1]
    with runtime.sessionmaker.begin() as session:
        store.add_blocked_key(session, spki_sha256=checked_csr(blocked_key).spki_sha256, reason="compromised",
                              at=runtime.clock.now())
    set_approval_policy(runtime, world.actor("erin"), policy="manual")  # frank's company decides one by one
    calls = [upload(runtime, world, "carol"), upload(runtime, world, "carol", blocked_key),
             upload(runtime, world, "dave"), upload(runtime, world, "frank"),
             upload(runtime, world, "bob", late_key)]
    with runtime.sessionmaker.begin() as session:  # dave deactivated behind the portal's back
        portal_store.mark_user(session, portal_store.get_user(session, world.id("dave")), status="deactivated")
    real_issue_many = request_batcher.issue_many

    def block_late_key_then_issue(runtime_, actor, requests):  # the key is reported between record and sign
        with runtime.sessionmaker.begin() as session:
            if session.get(BlockedKey, checked_csr(late_key).spki_sha256) is None:
                store.add_blocked_key(session, spki_sha256=checked_csr(late_key).spki_sha256, reason="late",
                                      at=runtime.clock.now())
        return real_issue_many(runtime_, actor, requests)

    monkeypatch.setattr(request_batcher, "issue_many", block_late_key_then_issue)
    requests_before = set(_requests(runtime))
    carol, blocked, dave, frank, bob = one_batch(runtime, calls)
    assert carol.serial and carol.request.status == "issued"
    assert isinstance(blocked, BadCSRError) and "blocked" in str(blocked)
    assert isinstance(dave, NotAuthorizedError)
    assert frank.serial is None and frank.request.status == "pending"
    assert isinstance(bob, BadCSRError) and "blocked" in str(bob)
    new = {i: r for i, r in _requests(runtime).items() if i not in requests_before}
    # recorded: carol's (issued), frank's (pending), bob's (failed with the reason); nothing of the others
    assert sorted((r.user_id, r.status) for r in new.values()) == sorted([
        (world.id("carol"), "issued"), (world.id("frank"), "pending"), (world.id("bob"), "failed")])
    failed = next(r for r in new.values() if r.status == "failed")
    assert "blocked" in (failed.comment or "")
    assert _actions(runtime, str(failed.id)) == ["request.created", "request.failed"]
    assert _actions(runtime, str(frank.request.id)) == ["request.created"]
    with runtime.sessionmaker() as session:
        assert session.execute(select(CertificateRecord).where(
            CertificateRecord.request_id == frank.request.id)).first() is None
        assert verify_chain(session)[2] == []


def test_concurrent_api_clients_each_get_their_answer(app, world, runtime):
    """Over HTTP: clients of two companies at once; each answer is its own request as listed afterwards."""
    clients = []
    for name in ("carol", "dave", "frank", "carol"):
        client = app.test_client()
        clients.append((client, _session(client, world, name)))
    answers: list[Any] = [None] * len(clients)
    barrier = threading.Barrier(len(clients))

    def post(index: int) -> None:
        client, headers = clients[index]
        barrier.wait()
        answers[index] = client.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()},
                                     headers=headers)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in answers] == [201] * len(clients)
    for (client, _headers), answer in zip(clients, answers, strict=True):
        created = answer.get_json()
        listed = client.get("/api/v1/requests").get_json()["items"]
        assert [r for r in listed if r["id"] == created["request"]["id"]] == [created["request"]]
        assert created["request"]["certificate_serial"] == created["certificate_serial"]


@pytest.mark.parametrize("body", [{"csr": "not a CSR"}, {"csr": 12}, {}])
def test_a_bad_upload_is_a_400_with_the_error_shape_and_records_nothing(client, world, runtime, body):
    headers = _session(client, world, "carol")
    before = set(_requests(runtime))
    answer = client.post("/api/v1/requests", json=body, headers=headers)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert set(error) == {"kind", "message"} and error["message"]
    assert set(_requests(runtime)) == before


def test_a_certificate_the_template_cannot_encode_still_closes_its_request(runtime, world, monkeypatch):
    """issue_many hands such values to the builder pipeline (issue_certificate), which knows nothing of the
    request: the batch links the certificate to its request and marks it issued before answering."""
    from ca import issuance

    monkeypatch.setattr(issuance, "encode_with_key", lambda *args, **kwargs: None)
    (outcome,) = one_batch(runtime, [upload(runtime, world, "carol")])
    assert outcome.serial and outcome.request.status == "issued"
    assert _requests(runtime)[outcome.request.id].status == "issued"
    with runtime.sessionmaker() as session:
        certificate = session.execute(select(CertificateRecord).where(
            CertificateRecord.serial == outcome.serial)).scalar_one()
        assert certificate.request_id == outcome.request.id and certificate.status == "issued"
        assert verify_chain(session)[2] == []
    assert _actions(runtime, str(outcome.request.id)) == ["request.created", "request.issued"]


def test_the_request_view_answers_every_field():
    """RequestView.to_dict is written field by field: a field added later must reach the answer too."""
    from dataclasses import fields
    from datetime import UTC, datetime

    from ca.clock import iso_or_none
    from enrollment.requests.views import RequestView

    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    view = RequestView(id=1, user="a@example.com", user_name="A", kind="csr", status="issued", comment=None,
                       created_at=at, decided_at=at, certificate_serial="0a")
    data = view.to_dict()
    assert set(data) == {f.name for f in fields(RequestView)}
    assert data["created_at"] == data["decided_at"] == iso_or_none(at)
    assert {k: v for k, v in data.items() if k not in ("created_at", "decided_at")} == {
        "id": 1, "user": "a@example.com", "user_name": "A", "kind": "csr", "status": "issued", "comment": None,
        "certificate_serial": "0a"}


def test_the_same_csr_twice_in_one_batch_is_two_requests(runtime, world):
    csr = good_csr("ec-p256")[1]
    first, second = one_batch(runtime, [upload(runtime, world, "carol", csr), upload(runtime, world, "carol", csr)])
    assert first.request.id != second.request.id and first.serial != second.serial
    rows = _requests(runtime)
    assert rows[first.request.id].status == rows[second.request.id].status == "issued"
    with runtime.sessionmaker() as session:
        for outcome in (first, second):
            assert session.execute(select(CertificateRecord.request_id).where(
                CertificateRecord.serial == outcome.serial)).scalar_one() == outcome.request.id


def test_uploads_of_session_tokens_read_their_sessions_in_the_batch(runtime, world):
    """submit_for_session: a live session's upload is recorded and issued in the batch, under its person;
    an ended session, a person without a company or an unknown token records nothing and answers None
    (the caller then takes resume_session's way), in the same batch as the others."""
    from enrollment.accounts.sessions import log_in, log_out
    from tests.portal.support import PASSWORD

    tokens = {name: log_in(runtime, email=world.emails[name], password=PASSWORD, source_ip="192.0.2.7").session_token
              for name in ("carol", "dave", "nina")}
    log_out(runtime, tokens["dave"], source_ip=None)
    before = _requests(runtime)

    def by_session(token: str) -> Callable[[], Any]:
        checked = checked_csr(good_csr("ec-p256")[1])
        return lambda: request_batcher.submit_for_session(runtime, token, checked, source_ip="192.0.2.7")

    outcomes = one_batch(runtime, [by_session(tokens["carol"]), by_session(tokens["dave"]),
                                   by_session(tokens["nina"]), by_session("no-such-token"),
                                   upload(runtime, world, "frank")])
    carol, dave, nina, unknown, frank = outcomes
    assert carol.serial and carol.request.user == world.emails["carol"] and carol.request.status == "issued"
    assert frank.serial and dave is None and nina is None and unknown is None
    new = {i: r for i, r in _requests(runtime).items() if i not in before}
    assert sorted(r.user_id for r in new.values()) == sorted([world.id("carol"), world.id("frank")])
    with runtime.sessionmaker() as session:
        created = session.execute(select(AuditEvent).where(AuditEvent.action == "request.created",
                                                           AuditEvent.object_id == str(carol.request.id))).scalar_one()
    assert created.actor == world.emails["carol"] and created.source_ip == "192.0.2.7"

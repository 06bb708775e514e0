"""`pkictl db check` (issue 10 §4), on SQLite and PostgreSQL: each kind of finding made for real in the
ledger — an intent row as issuance's first transaction writes it and no second transaction followed, a
stored certificate edited behind the application's back, an audit event rewritten — listed one line each
with a non-zero exit; `--close-pending` closes the stale intents out, audited; bad input changes nothing."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select, update

from ca.actor import Actor
from ca.consistency import check_ledger, parse_age
from ca.errors import BadRequestError, ConflictError, NotAuthorizedError
from ca.ledger import issuance_store, portal_store, store
from ca.ledger.models import AuditEvent, CertificateRecord, CertificateRequest
from ca.vocabulary import ActorKind, CertificateStatus, RequestStatus, Role
from ca.x509.crl import encode_revoked_entry
from ca.x509.serials import format_serial, random_serial_number
from tests.cli.test_cli import ALICE, _drop_append_only_triggers, issue, ok, refused, run
from tests.support.ledger import snapshot

SUMMARY = re.compile(r"(\d+) certificates and (\d+) audit events checked: (\d+) findings, (\d+) closed, "
                     r"(\d+) remaining")


def _intent(runtime, *, age: timedelta, request: bool = False) -> str:
    """The row issuance's transaction 1 commits (DESIGN §4 step 2), `age` old by the real clock, with the
    request an `auto` company records beside it when `request`; no transaction 2 ever came."""
    now = datetime.now(UTC).replace(microsecond=0) - age
    serial = format_serial(random_serial_number())
    with runtime.sessionmaker.begin() as session:
        user = store.get_user_by_email(session, ALICE)
        request_id = None
        if request:
            assert user.company_id is not None
            request_id = portal_store.add_request(session, user_id=user.id, company_id=user.company_id,
                                                  profile="browser", csr_der=b"csr", status=RequestStatus.APPROVED,
                                                  at=now).id
        store.add_pending_certificate(session, CertificateRecord(
            issuer_id=store.get_active_issuer(session).id, serial=serial, status=CertificateStatus.PENDING,
            profile="browser", subject="CN=Alice Martin", not_before=now, not_after=now + timedelta(days=365),
            spki_sha256="0" * 64, user_id=user.id, company_id=user.company_id, request_id=request_id,
            created_at=now))
    return serial


def _summary(stdout: str) -> tuple[int, ...]:
    match = SUMMARY.search(stdout.splitlines()[-1])
    assert match, stdout
    return tuple(int(n) for n in match.groups())


def _findings(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if not SUMMARY.search(line) and not line.startswith("closed: ")]


def _row(runtime, serial: str) -> CertificateRecord:
    with runtime.sessionmaker() as session:
        return store.get_certificate(session, serial)


def test_clean_ledger_exit_0(runner, runtime, tmp_path):
    for name in ("a", "b"):
        issue(runner, tmp_path, name)
    stdout = ok(run(runner, "db", "check", "--older-than", "0"))
    assert _findings(stdout) == []
    certificates, events, findings, closed, remaining = _summary(stdout)
    assert (certificates, findings, closed, remaining) == (2, 0, 0, 0)
    assert events == snapshot(runtime)["audit_events"]


def test_stale_intents_listed_then_closed_out_audited(runner, runtime, session_pki, tmp_path):
    issued, _ = issue(runner, tmp_path, "live")
    old = _intent(runtime, age=timedelta(minutes=20), request=True)
    recent = _intent(runtime, age=timedelta(minutes=1))

    result = run(runner, "db", "check")  # default threshold: 10 minutes
    assert result.exit_code == 1, result.output
    lines = _findings(result.stdout)
    assert lines == [f"pending: certificate {old} of {session_pki.issuer_name}: intent recorded "
                     f"{_row(runtime, old).created_at.isoformat()} and never completed"]
    result = run(runner, "db", "check", "--older-than", "0")
    assert result.exit_code == 1
    assert {re.search(r"certificate ([0-9a-f]+)", line).group(1) for line in _findings(result.stdout)} == {old, recent}

    before = snapshot(runtime)
    stdout = ok(run(runner, "db", "check", "--close-pending"))
    assert _summary(stdout)[2:] == (1, 1, 0)
    assert [line for line in stdout.splitlines() if line.startswith("closed: ")] == [
        f"closed: {lines[0].split(': ')[1]}: marked failed, audited"]
    assert _row(runtime, old).status == CertificateStatus.FAILED
    assert _row(runtime, recent).status == CertificateStatus.PENDING  # younger than the threshold: left alone
    assert _row(runtime, issued).status == CertificateStatus.ISSUED
    with runtime.sessionmaker() as session:
        record = store.get_certificate(session, old)
        request = session.get(CertificateRequest, record.request_id)
        assert request is not None and request.status == RequestStatus.FAILED
        assert "interrupted" in (request.comment or "")
        events = list(session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())[before["audit_events"]:]
    assert [(e.action, e.object_id) for e in events] == [("certificate.closed_out", old),
                                                         ("request.failed", str(request.id))]
    details = json.loads(events[0].details)
    assert details["status"] == "failed" and details["older_than_seconds"] == 600
    assert events[0].actor.startswith("operator:")

    ok(run(runner, "db", "check"))  # the recent intent is not stale yet
    ok(run(runner, "audit", "verify"))
    # A closed-out intent can no longer be completed: its certificate is never handed out.
    with pytest.raises(ConflictError, match="no longer pending"), runtime.sessionmaker.begin() as session:
        issuance_store.mark_issued(session, record.id, der=b"x")


def _tamper_signature(der: bytes) -> bytes:
    return der[:-1] + bytes([der[-1] ^ 0x01])


def _other_issuer_der(runtime, der: bytes) -> bytes:
    with runtime.sessionmaker() as session:
        return store.get_active_issuer(session).certificate_der  # signed by the root, not by the issuer


TAMPERING = {
    "signature": (lambda rt, row: {"der": _tamper_signature(row.der)}, "signature does not verify"),
    "foreign-der": (lambda rt, row: {"der": _other_issuer_der(rt, row.der)}, "does not verify against its issuer"),
    "garbage-der": (lambda rt, row: {"der": b"\x30\x03\x02\x01\x01"}, "does not parse"),
    "no-der": (lambda rt, row: {"der": None}, "no certificate is stored"),
    "sha256": (lambda rt, row: {"sha256": "f" * 64}, "sha256 column does not match"),
    "subject": (lambda rt, row: {"subject": "CN=Mallory"}, "the subject column (CN=Mallory) differs"),
    "not_after": (lambda rt, row: {"not_after": row.not_after + timedelta(days=3650)}, "the not_after column"),
    "spki": (lambda rt, row: {"spki_sha256": "e" * 64}, "the spki_sha256 column"),
    # revoked superseded, but the stored CRL entry says keyCompromise: the full CRL lists stored entries
    "crl-entry": (lambda rt, row: {"status": "revoked", "revoked_at": row.not_before, "revocation_reason": "superseded",
                                   "crl_entry": encode_revoked_entry(row.serial, row.not_before, "keyCompromise")},
                  "the stored CRL entry differs from the revocation columns"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_certificate_row_is_named(runner, runtime, tmp_path, case):
    serial, pem = issue(runner, tmp_path, "victim")
    issue(runner, tmp_path, "bystander")
    row = _row(runtime, serial)
    assert row.der == x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)
    change, fragment = TAMPERING[case]
    values = change(runtime, row)
    if "der" in values and values["der"] is not None:
        values["sha256"] = hashlib.sha256(values["der"]).hexdigest()  # a careful editor keeps the hash in step
    with runtime.sessionmaker.begin() as session:
        session.execute(update(CertificateRecord).where(CertificateRecord.id == row.id).values(values))
    result = run(runner, "db", "check")
    assert result.exit_code == 1, result.output
    lines = _findings(result.stdout)
    assert lines and all(line.startswith(f"certificate: certificate {serial} of ") for line in lines), lines
    assert any(fragment in line for line in lines), lines
    assert _summary(result.stdout)[0] == 2


def test_broken_audit_chain_is_named(runner, runtime, tmp_path):
    issue(runner, tmp_path, "leaf")
    with runtime.engine.begin() as connection:
        _drop_append_only_triggers(connection)
        connection.execute(update(AuditEvent).where(AuditEvent.id == 2).values(actor="operator:mallory"))
    result = run(runner, "db", "check")
    assert result.exit_code == 1
    assert _findings(result.stdout) == ["audit: event 2: event 2 was modified (its hash does not match)"]


def test_findings_of_every_kind_at_once(runner, runtime, tmp_path):
    serial, _ = issue(runner, tmp_path, "leaf")
    stale = _intent(runtime, age=timedelta(hours=2))
    with runtime.engine.begin() as connection:
        connection.execute(update(CertificateRecord).where(CertificateRecord.serial == serial)
                           .values(subject="CN=Mallory"))
        _drop_append_only_triggers(connection)
        connection.execute(update(AuditEvent).where(AuditEvent.id == 1).values(details="{}"))
    result = run(runner, "db", "check", "--close-pending")
    assert result.exit_code == 1  # the intent is closed; the edited certificate and event remain
    kinds = [line.split(":", 1)[0] for line in _findings(result.stdout)]
    assert sorted(kinds) == ["audit", "certificate", "pending"], result.stdout
    assert _summary(result.stdout)[2:] == (3, 1, 2)
    assert _row(runtime, stale).status == CertificateStatus.FAILED


@pytest.mark.parametrize(("args", "fragment"), [
    (["--older-than", "-5m"], "invalid age"),
    (["--older-than", "ten"], "invalid age"),
    (["--older-than", "10"], "with a unit"),
    (["--older-than", "10m", "--close-pending", "--older-than", "1w"], "invalid age"),
    (["--bogus"], "no such option"),
])
def test_bad_input_one_line_changes_nothing(runner, runtime, args, fragment):
    _intent(runtime, age=timedelta(hours=1))
    before = snapshot(runtime)
    refused(run(runner, "db", "check", *args, "--close-pending"), fragment)
    assert snapshot(runtime) == before
    with runtime.sessionmaker() as session:
        assert session.execute(select(CertificateRecord.status)).scalars().all() == [CertificateStatus.PENDING]


def test_age_parser():
    assert parse_age("0") == timedelta(0)
    assert parse_age("90s") == timedelta(seconds=90)
    assert parse_age(" 10m ") == timedelta(minutes=10)
    assert parse_age("2h") == timedelta(hours=2)
    assert parse_age("1d") == timedelta(days=1)
    for bad in ("", "m", "1.5h", "10", "-1m", "1w", "1e3s"):
        with pytest.raises(BadRequestError):
            parse_age(bad)


def test_only_an_operator_may_check(runtime):
    user = Actor(kind=ActorKind.USER, name="alice@example.com", user_id=1, company_id=1, role=Role.FIRST_ADMIN)
    before = snapshot(runtime)
    with pytest.raises(NotAuthorizedError):
        check_ledger(runtime, user, older_than=timedelta(0), close_pending=True)
    assert snapshot(runtime) == before

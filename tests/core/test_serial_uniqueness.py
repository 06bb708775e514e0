"""Serial numbers are unique per issuer by a database constraint, not by a check in the code (issue 10 §4,
RFC 5280 §4.1.2.2): the ledger itself refuses a second row, issuance draws again on a collision, and a
serial source that keeps colliding ends in a clear conflict with nothing recorded or signed.

Uniqueness is per issuer, as RFC 5280 asks and as every protocol identifies a certificate: CRL entries are
per issuer (§5.1), OCSP's CertID names the issuer (RFC 6960 §4.1.1), the gate looks a certificate up by
(issuer, serial). Two issuers' random 159-bit serials collide with probability about n²/2^160 — nil — and a
global constraint would only refuse a case that cannot be told apart from a legitimate one; lookups by serial
alone already say "several issuers; name the issuer" (store.get_certificate).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from ca import issuance
from ca.errors import ConflictError
from ca.ledger import store
from ca.ledger.models import CertificateRecord
from ca.vocabulary import CertificateStatus
from ca.x509.serials import format_serial, parse_serial
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import good_csr

ALICE = "alice@example.com"


def _issue(runtime, operator):
    return issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1], user_email=ALICE)


def _row_like(record: CertificateRecord) -> CertificateRecord:
    return CertificateRecord(issuer_id=record.issuer_id, serial=record.serial, status=CertificateStatus.PENDING,
                             profile=record.profile, subject=record.subject, not_before=record.not_before,
                             not_after=record.not_after, spki_sha256=record.spki_sha256,
                             created_at=record.created_at + timedelta(seconds=1))


def test_the_schema_holds_the_constraint(runtime):
    with runtime.engine.connect() as connection:
        constraints = inspect(connection).get_unique_constraints("certificates")
        indexes = [i for i in inspect(connection).get_indexes("certificates") if i.get("unique")]
    assert {("issuer_id", "serial")} <= {tuple(c["column_names"]) for c in constraints + indexes}


def test_the_database_refuses_a_second_row_with_the_serial(runtime, operator):
    issued = _issue(runtime, operator)
    with runtime.sessionmaker() as session:
        existing = store.get_certificate(session, issued.serial)
        session.add(_row_like(existing))
        with pytest.raises(IntegrityError):
            session.flush()  # the row goes straight to the database: no application check in between
        session.rollback()
    with runtime.sessionmaker.begin() as session, pytest.raises(ConflictError, match="collision"):
        store.add_pending_certificate(session, _row_like(store.get_certificate(session, issued.serial)))


def test_issuance_draws_again_after_a_collision(runtime, operator, monkeypatch):
    first = _issue(runtime, operator)
    draws = iter([parse_serial(first.serial)])
    real = issuance.random_serial_number
    monkeypatch.setattr(issuance, "random_serial_number", lambda: next(draws, None) or real())
    second = _issue(runtime, operator)
    assert second.serial != first.serial
    with runtime.sessionmaker() as session:
        assert store.get_certificate(session, second.serial).status == CertificateStatus.ISSUED
        query = select(CertificateRecord.serial, func.count()).group_by(CertificateRecord.serial)
        counts = dict(session.execute(query).all())
    assert counts == {first.serial: 1, second.serial: 1}


def test_a_serial_source_that_keeps_colliding_is_a_conflict(runtime, operator, monkeypatch):
    first = _issue(runtime, operator)
    monkeypatch.setattr(issuance, "random_serial_number", lambda: parse_serial(first.serial))
    before = snapshot(runtime)
    with pytest.raises(ConflictError, match="unique serial number; nothing was signed"):
        _issue(runtime, operator)
    assert snapshot(runtime) == before
    assert format_serial(parse_serial(first.serial)) == first.serial

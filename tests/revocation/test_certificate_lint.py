"""The after-the-fact lint of every issued certificate (issue 14 item 1): real pkilint on real certificates,
on SQLite and PostgreSQL (the `runtime` fixture runs on both)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from prometheus_client import REGISTRY

from ca import certificate_lint
from ca.clock import FixedClock
from ca.ledger import store
from ca.ledger.models import CertificateRecord
from ca.runtime import Runtime
from ca.x509.lint import lint_der
from revocation.maintenance import run_jobs
from tests.revocation.helpers import audit_events, issue
from tests.support.pki import SessionPKI

SETTLE = timedelta(seconds=11)  # past certificate_lint's default settling margin


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _certificate_without_aki(session_pki: SessionPKI, now) -> bytes:
    """A real certificate naming the session issuer but missing the authorityKeyIdentifier RFC 5280 §4.2.1.1
    requires (and the SKI): pkilint reports both. pkilint does not check signatures, so any key signs it."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no aki")]))
               .issuer_name(session_pki.issuer.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1))
               .not_valid_after(now + timedelta(days=30)))
    return builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()).public_bytes(Encoding.DER)


def _insert(runtime: Runtime, serial: str, der: bytes, status: str = "issued") -> None:
    """A ledger row as issuance writes it, with the given DER (the finding, or bytes pkilint cannot read)."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        issuer = store.list_issuers(session)[0]
        session.add(CertificateRecord(issuer_id=issuer.id, serial=serial, status=status, profile="browser",
                                      subject="CN=crafted", not_before=now, not_after=now + timedelta(days=30),
                                      der=der if status != "pending" else None, spki_sha256="0" * 64,
                                      created_at=now))


def test_findings_alert_errors_are_recorded_and_nothing_is_linted_twice(
        runtime: Runtime, clock: FixedClock, operator, session_pki: SessionPKI,
        caplog: pytest.LogCaptureFixture) -> None:
    clean = issue(runtime, operator)
    bad_der = _certificate_without_aki(session_pki, clock.now())
    codes = sorted({finding.code for finding in lint_der(bad_der)})
    assert codes, "the crafted certificate must have a pkilint finding"
    _insert(runtime, "0bad0001", bad_der)
    _insert(runtime, "0bad0002", b"\x30\x03\x02\x01\x01")  # not a certificate: pkilint raises
    clean_after = issue(runtime, operator)
    before = {"clean": _metric("pki_certificates_linted_total", outcome="clean"),
              "finding": _metric("pki_certificates_linted_total", outcome="finding"),
              "error": _metric("pki_certificates_linted_total", outcome="error"),
              "code": _metric("pki_certificate_lint_findings_total", code=codes[0])}

    # Younger than the settling margin: not passed yet.
    assert certificate_lint.lint_issued(runtime).linted == 0
    clock.advance(SETTLE)
    with caplog.at_level(logging.ERROR, logger="portail.lint"):
        done = certificate_lint.lint_issued(runtime, batch=2)  # several batches in one pass
    assert done.linted == 4
    assert done.findings == {"0bad0001": codes}
    assert list(done.errors) == ["0bad0002"]
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR and "ALERT" in r.getMessage()]
    assert [("0bad0001" in r.getMessage(), "0bad0002" in r.getMessage()) for r in alerts] == [(True, False),
                                                                                              (False, True)]
    findings = audit_events(runtime, certificate_lint.FINDING_ACTION)
    assert [(e.object_id, json.loads(e.details)["codes"]) for e in findings] == [("0bad0001", codes)]
    errors = audit_events(runtime, certificate_lint.ERROR_ACTION)
    assert [e.object_id for e in errors] == ["0bad0002"] and json.loads(errors[0].details)["error"]
    assert _metric("pki_certificates_linted_total", outcome="clean") - before["clean"] == 2
    assert _metric("pki_certificates_linted_total", outcome="finding") - before["finding"] == 1
    assert _metric("pki_certificates_linted_total", outcome="error") - before["error"] == 1
    assert _metric("pki_certificate_lint_findings_total", code=codes[0]) - before["code"] == 1
    assert {clean.serial, clean_after.serial} <= {e.object_id for e in audit_events(runtime, "certificate.issued")}

    # A second pass, and a fresh runtime on the same ledger (a restart), lint nothing again.
    assert certificate_lint.lint_issued(runtime).linted == 0
    from ca.runtime import build_runtime

    restarted = build_runtime(runtime.settings, clock, migrate=False)
    try:
        assert certificate_lint.lint_issued(restarted).linted == 0
        later = issue(restarted, operator)
        clock.advance(SETTLE)
        run_jobs(restarted, [certificate_lint.CertificateLintJob()])  # the maintenance loop's way
    finally:
        restarted.close()
    assert len(audit_events(runtime, certificate_lint.FINDING_ACTION)) == 1
    assert len(audit_events(runtime, certificate_lint.ERROR_ACTION)) == 1
    with runtime.sessionmaker() as session:
        from ca.ledger import cursor_store

        assert cursor_store.cursor_position(session, certificate_lint.CURSOR) == store.get_certificate(
            session, later.serial).id


def test_the_walk_waits_at_a_pending_row(runtime: Runtime, clock: FixedClock, operator,
                                         session_pki: SessionPKI) -> None:
    first = issue(runtime, operator)
    _insert(runtime, "0feed001", b"", status="pending")  # an intent whose result is not recorded yet
    _insert(runtime, "0bad0003", _certificate_without_aki(session_pki, clock.now()))
    clock.advance(SETTLE)
    done = certificate_lint.lint_issued(runtime)
    assert done.linted == 1 and not done.findings  # the clean one before the pending row, nothing past it
    with runtime.sessionmaker.begin() as session:
        store.get_certificate(session, "0feed001").status = "failed"  # the intent closed (ca.consistency)
    done = certificate_lint.lint_issued(runtime)
    assert done.linted == 1 and list(done.findings) == ["0bad0003"]  # the failed row has no DER: skipped
    assert first.serial not in done.findings

"""Every issued certificate linted again after the fact, in the background (issue 14 item 1).

The issuance path lints each certificate shape once and checks the varying fields with exact validators;
this job is the second net, off that path: it walks the ledger in id order from a durable cursor
(ca.ledger.cursor_models) and runs pkilint on the whole DER of each certificate that was issued. A finding
is an alert: a log line at ERROR ("ALERT"), an audit event `certificate.lint_finding` with the finding
codes, and the counter `pki_certificate_lint_findings` by code. pkilint failing on one certificate (it
cannot decode it, or raises) is recorded the same way (`certificate.lint_error`) and the walk goes on.

The cursor moves in the transaction that records the batch's events, so a restart resumes where the last
commit left it, and no certificate is linted twice (a crash inside a batch loses the batch's events with
its cursor move, so the batch is linted again once, with nothing of it recorded before). The walk never
passes a row still `pending`, nor a row younger than a settling margin (ca.ledger.cursor_store).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ca.actor import SYSTEM
from ca.ledger import Session, cursor_store
from ca.ledger.audit import append_event
from ca.metrics import CERTIFICATE_LINT_FINDINGS, CERTIFICATES_LINTED
from ca.runtime import Runtime
from ca.x509.lint import LintFinding, lint_der

log = logging.getLogger("portail.lint")

CURSOR = "certificate-lint"
FINDING_ACTION = "certificate.lint_finding"
ERROR_ACTION = "certificate.lint_error"


@dataclass
class LintPass:
    """What one call did: certificates linted, those with findings, those pkilint could not lint."""

    linted: int = 0
    findings: dict[str, list[str]] = field(default_factory=dict)  # serial -> finding codes
    errors: dict[str, str] = field(default_factory=dict)  # serial -> what pkilint raised
    position: int = 0


def lint_issued(runtime: Runtime, *, batch: int = 200, seconds: float = 2.0,
                settle: timedelta = timedelta(seconds=10)) -> LintPass:
    """Lint the certificates issued since the cursor, `batch` per transaction, for at most about `seconds`
    (the maintenance loop's other jobs wait for this one)."""
    done = LintPass()
    deadline = time.monotonic() + seconds
    while True:
        with runtime.sessionmaker.begin() as session:
            position = cursor_store.cursor_position(session, CURSOR, lock=True)
            now = runtime.clock.now()
            rows = cursor_store.settled_certificates_after(session, position, created_before=now - settle,
                                                           limit=batch)
            for row in rows:
                if row.der is not None:
                    _lint_one(session, row, now, done)
            if rows:
                position = rows[-1].id
                cursor_store.save_cursor(session, CURSOR, position, now)
        done.position = position
        if len(rows) < batch or time.monotonic() >= deadline:
            return done


def _lint_one(session: Session, row: cursor_store.SettledCertificate, now: datetime, done: LintPass) -> None:
    assert row.der is not None
    done.linted += 1
    try:
        findings: list[LintFinding] = lint_der(row.der)
    except Exception as error:  # noqa: BLE001  (pkilint failing on one certificate must not stop the walk)
        CERTIFICATES_LINTED.labels("error").inc()
        text = f"{type(error).__name__}: {error}"[:500]
        done.errors[row.serial] = text
        log.error("ALERT certificate %s (issuer %s) could not be linted: %s", row.serial, row.issuer, text)
        append_event(session, at=now, actor=SYSTEM.name, action=ERROR_ACTION,
                     object_type="certificate", object_id=row.serial, company_id=row.company_id,
                     details={"issuer": row.issuer, "error": text})
        return
    if not findings:
        CERTIFICATES_LINTED.labels("clean").inc()
        return
    CERTIFICATES_LINTED.labels("finding").inc()
    codes = sorted({finding.code for finding in findings})
    for code in codes:
        CERTIFICATE_LINT_FINDINGS.labels(code).inc()
    done.findings[row.serial] = codes
    log.error("ALERT certificate %s (issuer %s) has pkilint findings: %s", row.serial, row.issuer,
              "; ".join(str(finding) for finding in findings))
    append_event(session, at=now, actor=SYSTEM.name, action=FINDING_ACTION,
                 object_type="certificate", object_id=row.serial, company_id=row.company_id,
                 details={"issuer": row.issuer, "codes": codes,
                          "findings": [str(finding) for finding in findings][:20]})


class CertificateLintJob:
    """The maintenance loop's job (revocation.maintenance.run_jobs): one bounded lint pass per loop pass."""

    def __call__(self, runtime: Runtime) -> None:
        done = lint_issued(runtime)
        if done.linted:
            log.info("linted %d issued certificate(s): %d with findings, %d not lintable (cursor at id %d)",
                     done.linted, len(done.findings), len(done.errors), done.position)

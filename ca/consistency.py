"""`pkictl db check`: what a crash, or an edit made behind the application's back, left in the ledger
(issue 10 §4).

Issuance commits its intent row (`pending`) before the key signs and stores the DER (`issued`) in a second
transaction before the certificate leaves (DESIGN §4). A process killed between the two commits leaves a
`pending` row whose certificate, if it was signed at all, reached nobody. The check lists:

- `pending`: intent rows older than the threshold (a live issuance completes within seconds);
- `certificate`: signed rows (issued, revoked) whose stored DER is missing, does not parse, does not verify
  against its issuer's key (RFC 5280 §6.1.3 (a)(1)), names another issuer, or disagrees with the row's own
  columns (serial, subject, validity, key, sha256) — the columns are what CRLs, OCSP and the gate rely on —
  or whose stored CRL entry is not the one its revocation columns give (the full CRL lists stored entries);
- `audit`: every event of the hash chain that does not fit (ca.ledger.audit.verify_chain, as `audit verify`).

`close_pending` marks the stale intent rows `failed` — the status of an issuance that handed nothing out —
with their waiting requests, in one transaction that audits each row.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ca.actor import Actor
from ca.errors import BadRequestError
from ca.ledger import consistency_store
from ca.ledger.audit import append_event, verify_chain
from ca.ledger.models import CertificateRecord
from ca.runtime import Runtime
from ca.x509.crl import encode_revoked_entry
from ca.x509.keycheck import spki_sha256
from ca.x509.names import dn_text
from ca.x509.serials import format_serial

DEFAULT_OLDER_THAN = "10m"
_AGE = re.compile(r"(\d{1,9})([smhd]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
CLOSED_COMMENT = "the issuance was interrupted before the certificate was stored; nothing was issued"


def parse_age(text: str) -> timedelta:
    """`0`, `90s`, `10m`, `2h` or `1d`: how old an intent row must be to count as left by a crash."""
    match = _AGE.fullmatch(text.strip())
    if match is None or (not match.group(2) and match.group(1).strip("0")):
        raise BadRequestError(f"invalid age {text!r}: expected a number with a unit s, m, h or d (e.g. 10m), or 0")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2) or "s"])


@dataclass(frozen=True)
class Finding:
    kind: str  # pending | certificate | audit
    what: str
    problem: str

    def line(self) -> str:
        return f"{self.kind}: {self.what}: {self.problem}"


@dataclass(frozen=True)
class CheckReport:
    findings: list[Finding]
    certificates: int  # signed rows whose DER was checked
    events: int  # audit events walked
    closed: list[Finding] = field(default_factory=list)  # pending rows closed out by this run

    @property
    def remaining(self) -> list[Finding]:
        """The findings this run did not resolve (a closed-out intent is resolved)."""
        closed = {f.what for f in self.closed}
        return [f for f in self.findings if not (f.kind == "pending" and f.what in closed)]

    @property
    def ok(self) -> bool:
        return not self.remaining


def _name(record: CertificateRecord, issuers: dict[int, tuple[str, bytes]]) -> str:
    issuer = issuers.get(record.issuer_id)
    return f"certificate {record.serial} of {issuer[0] if issuer else f'issuer #{record.issuer_id}'}"


def certificate_problems(record: CertificateRecord, issuer: x509.Certificate | None) -> list[str]:
    """What is wrong with a signed row: its DER against its issuer, then against its own columns."""
    if record.der is None:
        return [f"status {record.status} but no certificate is stored"]
    try:
        cert = x509.load_der_x509_certificate(record.der)
    except ValueError:
        return ["the stored DER does not parse as a certificate"]
    problems = []
    if record.sha256 != hashlib.sha256(record.der).hexdigest():
        problems.append("the sha256 column does not match the stored DER")
    if issuer is None:
        problems.append(f"issuer #{record.issuer_id} is not installed")
    else:
        try:
            cert.verify_directly_issued_by(issuer)
        except InvalidSignature:
            problems.append("the signature does not verify against the issuer's key")
        except (ValueError, TypeError) as exc:
            problems.append(f"the DER does not verify against its issuer: {exc}")
    expected = {
        "serial": (record.serial, format_serial(cert.serial_number)),
        # rows store ca.x509.names.dn_text (attribute names); rows from before issue 15 the plain RFC 4514 form
        "subject": (record.subject, record.subject if record.subject in (dn_text(cert.subject),
                                                                          cert.subject.rfc4514_string())
                    else dn_text(cert.subject)),
        "not_before": (record.not_before.replace(microsecond=0), cert.not_valid_before_utc),
        "not_after": (record.not_after.replace(microsecond=0), cert.not_valid_after_utc),
        "spki_sha256": (record.spki_sha256, spki_sha256(cert.public_key())),
    }
    problems.extend(f"the {column} column ({stored}) differs from the DER ({signed})"
                    for column, (stored, signed) in expected.items() if stored != signed)
    if record.crl_entry is not None and record.revoked_at is not None and record.crl_entry != _crl_entry(record):
        problems.append("the stored CRL entry differs from the revocation columns (serial, time, reason)")
    return problems


def _crl_entry(record: CertificateRecord) -> bytes | None:
    try:
        return encode_revoked_entry(record.serial, record.revoked_at, record.revocation_reason) \
            if record.revoked_at else None
    except ValueError:
        return None


def _pending_finding(record: CertificateRecord, issuers: dict[int, tuple[str, bytes]]) -> Finding:
    return Finding("pending", _name(record, issuers),
                   f"intent recorded {record.created_at.isoformat()} and never completed")


def check_ledger(runtime: Runtime, actor: Actor, *, older_than: timedelta,
                 close_pending: bool = False) -> CheckReport:
    """Every finding of the module docstring; with `close_pending`, the stale intents are closed out."""
    actor.require_operator()
    if older_than < timedelta(0):
        raise BadRequestError("the age threshold may not be negative")
    now = runtime.clock.now()
    findings: list[Finding] = []
    checked = 0
    with runtime.sessionmaker() as session:
        issuers = consistency_store.issuer_certificates(session)
        loaded = {issuer_id: x509.load_der_x509_certificate(der) for issuer_id, (_, der) in issuers.items()}
        findings.extend(_pending_finding(r, issuers)
                        for r in consistency_store.list_stale_pending(session, now - older_than))
        for record in consistency_store.iter_signed_certificates(session):
            checked += 1
            findings.extend(Finding("certificate", _name(record, issuers), problem)
                            for problem in certificate_problems(record, loaded.get(record.issuer_id)))
        events, _head, problems = verify_chain(session)
    findings.extend(Finding("audit", f"event {p.event_id}", p.problem) for p in problems)
    closed = _close_pending(runtime, actor, now, older_than) if close_pending else []
    return CheckReport(findings=findings, certificates=checked, events=events, closed=closed)


def _close_pending(runtime: Runtime, actor: Actor, now: datetime, older_than: timedelta) -> list[Finding]:
    """One transaction: each stale intent (read again, locked) marked `failed` and audited, with its request."""
    closed = []
    with runtime.sessionmaker.begin() as session:
        issuers = consistency_store.issuer_certificates(session)
        for record in consistency_store.list_stale_pending(session, now - older_than, lock=True):
            request = consistency_store.close_pending(session, record, at=now, comment=CLOSED_COMMENT)
            append_event(session, at=now, actor=actor.name, action="certificate.closed_out",
                         object_type="certificate", object_id=record.serial, company_id=record.company_id,
                         details={"issuer": issuers[record.issuer_id][0], "status": record.status,
                                  "recorded_at": record.created_at.isoformat(),
                                  "older_than_seconds": int(older_than.total_seconds())},
                         source_ip=actor.source_ip)
            if request is not None:
                append_event(session, at=now, actor=actor.name, action="request.failed", object_type="request",
                             object_id=str(request.id), company_id=request.company_id,
                             details={"error": CLOSED_COMMENT, "serial": record.serial},
                             source_ip=actor.source_ip)
            closed.append(_pending_finding(record, issuers))
    return closed

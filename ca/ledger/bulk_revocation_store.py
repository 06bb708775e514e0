"""Set-based revocation of many rows in one transaction (issue 14 §5): the same consequences as
`ca.revoke.revoke_in_session` for each row — status, CRL marked dirty, stored OCSP answers deleted, one
chained `certificate.revoked` audit event per certificate (DESIGN §3: every state change is audited, and
the audit trail is the responders' change feed, `store.changes_since`) — written as a handful of statements
for the whole batch instead of six per certificate."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import NamedTuple

from sqlalchemy import (
    ARRAY,
    Integer,
    LargeBinary,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session

from ca.ledger.audit import _PG_AUDIT_LOCK, GENESIS, _digest
from ca.ledger.models import AuditEvent, CertificateRecord, CRLState, OCSPResponseRecord
from ca.vocabulary import CertificateStatus
from ca.x509.crl import encode_revoked_entry

_CERTIFICATES: Table = CertificateRecord.__table__  # type: ignore[assignment]
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
_CRL_STATE: Table = CRLState.__table__  # type: ignore[assignment]
_OCSP: Table = OCSPResponseRecord.__table__  # type: ignore[assignment]


class RevokedRow(NamedTuple):
    id: int
    issuer_id: int
    serial: str
    company_id: int | None


def revoke_rows(session: Session, row_ids: Sequence[int], *, at: datetime, reason: str, actor: str,
                source_ip: str | None, cause: str | None = None) -> list[RevokedRow]:
    """Revoke the rows of `row_ids` still `issued` (a row revoked or changed meanwhile is left out: the
    conditional UPDATE re-checks the status under the row lock) and return those it revoked."""
    if not row_ids:
        return []
    connection = session.connection()
    entries = _crl_entries(session, row_ids, at=at, reason=reason)
    revoked = [RevokedRow(*row) for row in connection.execute(_revoke_statement(session, row_ids, entries, at,
                                                                                 reason))]
    if not revoked:
        return []
    revoked.sort(key=lambda row: row.id)
    if connection.dialect.name != "postgresql":  # SQLite: the entries by one executemany, in-process and cheap
        connection.execute(update(_CERTIFICATES).where(_CERTIFICATES.c.id == bindparam("row_id"))
                           .values(crl_entry=bindparam("entry")),
                           [{"row_id": row.id, "entry": entries[row.id]} for row in revoked])
    by_issuer: dict[int, list[str]] = {}
    for row in revoked:
        by_issuer.setdefault(row.issuer_id, []).append(row.serial)
    for issuer_id, serials in by_issuer.items():
        connection.execute(delete(_OCSP).where(_OCSP.c.issuer_id == issuer_id, _OCSP.c.serial.in_(serials)))
    connection.execute(update(_CRL_STATE).where(_CRL_STATE.c.issuer_id.in_(list(by_issuer))).values(dirty=True))
    _append_revocation_events(session, revoked, at=at, reason=reason, actor=actor, source_ip=source_ip,
                              cause=cause)
    return revoked


def _crl_entries(session: Session, row_ids: Sequence[int], *, at: datetime, reason: str) -> dict[int, bytes]:
    """Each row's CRL entry as store.mark_certificate_revoked writes it (the serial never changes, so it is
    read before the conditional UPDATE decides which rows are still issued)."""
    c = _CERTIFICATES.c
    rows = session.connection().execute(select(c.id, c.serial).where(c.id.in_(list(row_ids))))
    return {row.id: encode_revoked_entry(row.serial, at, reason) for row in rows}


def _revoke_statement(session: Session, row_ids: Sequence[int], entries: dict[int, bytes], at: datetime,
                      reason: str) -> Update:
    """The conditional UPDATE of the rows still `issued`, RETURNING what it revoked. On PostgreSQL it also
    writes each row's entry, joined from two arrays (one statement, where an executemany would make one
    round of the protocol per row); SQLite's entries follow by executemany."""
    c = _CERTIFICATES.c
    values: dict[str, object] = {"status": CertificateStatus.REVOKED, "revoked_at": at, "revocation_reason": reason}
    if session.get_bind().dialect.name == "postgresql":
        ids, blobs = list(entries), list(entries.values())
        given = select(func.unnest(literal(ids, ARRAY(Integer))).label("id"),
                       func.unnest(literal(blobs, ARRAY(LargeBinary))).label("entry")).subquery()
        statement = update(_CERTIFICATES).where(c.id == given.c.id, c.status == CertificateStatus.ISSUED)
        values["crl_entry"] = given.c.entry
    else:
        statement = update(_CERTIFICATES).where(c.id.in_(list(row_ids)), c.status == CertificateStatus.ISSUED)
    return statement.values(values).returning(c.id, c.issuer_id, c.serial, c.company_id)


def _append_revocation_events(session: Session, revoked: list[RevokedRow], *, at: datetime, reason: str,
                              actor: str, source_ip: str | None, cause: str | None) -> None:
    """One chained event per certificate, as `ca.ledger.audit.append_event` writes it (same fields, same
    hash), from one read of the chain head under the same lock, inserted with one executemany."""
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
    head = connection.execute(select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)).first()
    next_id, prev_hash = (head.id + 1, head.hash) if head else (1, GENESIS)
    rows = []
    for row in revoked:
        details: dict[str, object] = {"reason": reason, "issuer_id": row.issuer_id}
        if cause:
            details["cause"] = cause
        event = SimpleNamespace(
            id=next_id, at=at, actor=actor, action="certificate.revoked", company_id=row.company_id,
            object_type="certificate", object_id=row.serial,
            details=json.dumps(details, sort_keys=True, separators=(",", ":"), default=str),
            source_ip=source_ip, prev_hash=prev_hash, hash="")
        event.hash = _digest(event)  # type: ignore[arg-type]
        rows.append(vars(event))
        next_id, prev_hash = next_id + 1, event.hash
    connection.execute(insert(_EVENTS), rows)


def unused_row_ids(session: Session, *, cutoff: datetime, now: datetime, company_id: int | None,
                   profile: str = "browser") -> list[tuple[int, str]]:
    """(id, serial) of the rows `store.list_unused_certificates` lists, without loading them."""
    c = _CERTIFICATES.c
    never_used = and_(c.last_used_at.is_(None), c.not_before < cutoff)
    query = (select(c.id, c.serial)
             .where(c.status == CertificateStatus.ISSUED, c.not_after >= now, c.profile == profile,
                    (c.last_used_at < cutoff) | never_used,
                    (c.company_id == bindparam("company_id")) if company_id is not None else true())
             .order_by(c.id))
    return [(int(row.id), row.serial) for row in session.connection().execute(query, {"company_id": company_id})]


def row_ids_of(session: Session, keys: Sequence[tuple[int, str]]) -> list[int]:
    """The row ids of (issuer id, serial) pairs, in the order given (pairs not in the ledger are left out)."""
    c = _CERTIFICATES.c
    ids: dict[tuple[int, str], int] = {}
    by_issuer: dict[int, list[str]] = {}
    for issuer_id, serial in keys:
        by_issuer.setdefault(issuer_id, []).append(serial)
    connection = session.connection()
    for issuer_id, serials in by_issuer.items():
        for start in range(0, len(serials), 5000):
            for row in connection.execute(select(c.id, c.serial).where(
                    c.issuer_id == issuer_id, c.serial.in_(serials[start:start + 5000]))):
                ids[(issuer_id, row.serial)] = int(row.id)
    return [ids[key] for key in keys if key in ids]

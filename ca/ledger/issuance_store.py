"""The two writes of an issuance as single Core statements (issue 14 §1): the ORM's unit of work costs more
than the SQL it runs, and these run once per certificate inside the group commit (ca.ledger.group_commit).
Same rows and rules as `store.add_pending_certificate` (kept for tests that build rows by hand)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.errors import ConflictError, SerialCollisionError
from ca.ledger.audit import _PG_AUDIT_LOCK, GENESIS, _digest
from ca.ledger.models import AuditEvent, CertificateRecord
from ca.vocabulary import CertificateStatus

_CERTIFICATES: Table = CertificateRecord.__table__  # type: ignore[assignment]
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]


def insert_pending(session: Session, **values: Any) -> int:
    """The intent row (status pending); a serial collision is a ConflictError (the caller draws again)."""
    try:
        with session.begin_nested():
            row_id = session.execute(insert(_CERTIFICATES).values(status=CertificateStatus.PENDING, **values)
                                     .returning(_CERTIFICATES.c.id)).scalar_one()
    except IntegrityError:
        raise SerialCollisionError("serial number collision") from None
    return int(row_id)


def mark_issued(session: Session, row_id: int, *, der: bytes) -> None:
    """pending → issued with the DER and its SHA-256, or ConflictError when the row is not pending. The
    conditional UPDATE locks the row and re-reads its status (PostgreSQL re-checks the WHERE after waiting),
    so an intent closed out by `pkictl db check --close-pending` meanwhile is never handed out."""
    result = session.execute(update(_CERTIFICATES).where(_CERTIFICATES.c.id == row_id,
                                                         _CERTIFICATES.c.status == CertificateStatus.PENDING)
                             .values(der=der, sha256=hashlib.sha256(der).hexdigest(),
                                     status=CertificateStatus.ISSUED))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError("the certificate's intent is no longer pending (closed out by db check); "
                            "nothing was issued")


def append_event(session: Session, *, at: datetime, actor: str, action: str, object_type: str, object_id: str,
                 company_id: int | None = None, details: dict[str, Any] | None = None,
                 source_ip: str | None = None) -> None:
    """ca.ledger.audit.append_event as two statements: the same chained row, the same hash."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
    head = session.execute(select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)).first()
    event = SimpleNamespace(
        id=(head.id + 1) if head else 1, at=at, actor=actor, action=action, company_id=company_id,
        object_type=object_type, object_id=str(object_id),
        details=json.dumps(details or {}, sort_keys=True, separators=(",", ":"), default=str),
        source_ip=source_ip, prev_hash=head.hash if head else GENESIS, hash="",
    )
    event.hash = _digest(event)  # type: ignore[arg-type]
    session.execute(insert(_EVENTS).values(**vars(event)))

"""Reads and writes of background cursors (ca.ledger.cursor_models), and the certificate walk they drive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.ledger.cursor_models import BackgroundCursor
from ca.ledger.models import CertificateRecord, IssuerRecord
from ca.vocabulary import CertificateStatus


def cursor_position(session: Session, name: str, *, lock: bool = False) -> int:
    """Where the job `name` stands (0 before its first row). `lock` holds the row until the transaction ends
    (PostgreSQL FOR UPDATE; SQLite's writer lock comes with the job's first write), so two processes running
    the same job take turns instead of both doing a batch."""
    query = select(BackgroundCursor.position).where(BackgroundCursor.name == name)
    if lock:
        query = query.with_for_update()
    position = session.execute(query).scalar_one_or_none()
    return position or 0


def save_cursor(session: Session, name: str, position: int, at: datetime) -> None:
    record = session.get(BackgroundCursor, name)
    if record is None:
        session.add(BackgroundCursor(name=name, position=position, updated_at=at))
    else:
        record.position, record.updated_at = position, at
    session.flush()


@dataclass(frozen=True)
class SettledCertificate:
    """A certificate row whose issuance has ended: `der` is None when it failed (nothing was handed out)."""

    id: int
    serial: str
    issuer: str
    company_id: int | None
    der: bytes | None


def settled_certificates_after(session: Session, after_id: int, *, created_before: datetime,
                               limit: int) -> Sequence[SettledCertificate]:
    """Rows after `after_id` in id order, up to (not including) the first one still `pending` (its result is
    not recorded yet) or created at or after `created_before`. The walk must pass neither: an id is taken
    when the intent row is inserted, so a row with a lower id may still be invisible (its insert not yet
    committed) while a higher one is visible; a row is only passed once every insert that could have taken a
    lower id has committed or rolled back, which the settling margin before `created_before` ensures."""
    query = (
        select(CertificateRecord.id, CertificateRecord.serial, IssuerRecord.name, CertificateRecord.company_id,
               CertificateRecord.status, CertificateRecord.der, CertificateRecord.created_at)
        .join(IssuerRecord, IssuerRecord.id == CertificateRecord.issuer_id)
        .where(CertificateRecord.id > after_id)
        .order_by(CertificateRecord.id)
        .limit(limit)
    )
    settled = []
    for row_id, serial, issuer, company_id, status, der, created_at in session.execute(query):
        if status == CertificateStatus.PENDING or created_at >= created_before:
            break
        settled.append(SettledCertificate(id=row_id, serial=serial, issuer=issuer, company_id=company_id,
                                          der=der if status != CertificateStatus.FAILED else None))
    return settled

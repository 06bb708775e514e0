"""Store functions of renewals (issue 11): the successor → predecessor link on `certificates`.

`session` first, never commit (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ca.errors import ConflictError
from ca.ledger.models import CertificateRecord
from ca.vocabulary import CertificateStatus

_LIVE_OR_PENDING = (CertificateStatus.PENDING, CertificateStatus.ISSUED)


def get_certificate_by_id(session: Session, certificate_id: int) -> CertificateRecord | None:
    return session.get(CertificateRecord, certificate_id)


def find_live_successor(session: Session, predecessor_id: int, now: datetime) -> CertificateRecord | None:
    """A successor being issued or issued and unexpired: the predecessor is renewed already."""
    return session.execute(
        select(CertificateRecord).where(
            CertificateRecord.predecessor_id == predecessor_id,
            CertificateRecord.status.in_(_LIVE_OR_PENDING), CertificateRecord.not_after >= now,
        ).order_by(CertificateRecord.id.desc()).limit(1)
    ).scalar_one_or_none()


def claim_predecessor(session: Session, predecessor_id: int, now: datetime) -> None:
    """In the successor's intent transaction: the predecessor's row is locked (PostgreSQL: FOR UPDATE; SQLite
    writers are serialised by BEGIN IMMEDIATE), then no live successor may exist. Two renewals of one
    certificate at the same instant both pass the renewal's early check; here the second one waits for the
    first one's commit, sees its successor and is refused — so a certificate has at most one live successor."""
    session.execute(select(CertificateRecord.id).where(CertificateRecord.id == predecessor_id).with_for_update())
    successor = find_live_successor(session, predecessor_id, now)
    if successor is not None:
        raise ConflictError(f"the certificate was already renewed as {successor.serial}: renew that one, or "
                            "revoke it first")


def map_successor_serials(session: Session, certificate_ids: Iterable[int]) -> dict[int, str]:
    """predecessor id → serial of its newest signed successor."""
    ids = list(certificate_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(CertificateRecord.predecessor_id, CertificateRecord.serial)
        .where(CertificateRecord.predecessor_id.in_(ids),
               CertificateRecord.status.in_((CertificateStatus.ISSUED, CertificateStatus.REVOKED)))
        .order_by(CertificateRecord.id)
    ).all()
    return {predecessor: serial for predecessor, serial in rows if predecessor is not None}


def map_serials(session: Session, certificate_ids: Iterable[int]) -> dict[int, str]:
    ids = list(certificate_ids)
    if not ids:
        return {}
    rows = session.execute(select(CertificateRecord.id, CertificateRecord.serial)
                           .where(CertificateRecord.id.in_(ids))).all()
    return {row_id: serial for row_id, serial in rows}


def get_live_predecessor(session: Session, successor: CertificateRecord) -> CertificateRecord | None:
    """The successor's predecessor while it is still `issued` (locked on PostgreSQL: one revoker wins)."""
    if successor.predecessor_id is None:
        return None
    return session.execute(
        select(CertificateRecord).where(CertificateRecord.id == successor.predecessor_id,
                                        CertificateRecord.status == CertificateStatus.ISSUED)
        .with_for_update()
    ).scalar_one_or_none()


def list_predecessors_past_grace(session: Session, *, issued_before: datetime, limit: int = 500
                                 ) -> list[tuple[CertificateRecord, CertificateRecord]]:
    """(successor, predecessor) pairs whose successor was issued before `issued_before` (its grace
    deadline passed) while the predecessor is still `issued`."""
    predecessor = aliased(CertificateRecord)
    rows = session.execute(
        select(CertificateRecord, predecessor)
        .join(predecessor, predecessor.id == CertificateRecord.predecessor_id)
        .where(CertificateRecord.status == CertificateStatus.ISSUED,
               CertificateRecord.not_before < issued_before,
               predecessor.status == CertificateStatus.ISSUED)
        .order_by(CertificateRecord.id).limit(limit)
    ).all()
    return [(successor, previous) for successor, previous in rows]


def renewed_ids(session: Session, certificate_ids: Iterable[int], now: datetime) -> set[int]:
    """Those of `certificate_ids` that have a live (issued, unexpired) successor."""
    ids = list(certificate_ids)
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(CertificateRecord.predecessor_id).where(
                CertificateRecord.predecessor_id.in_(ids[start:start + 500]),
                CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.not_after >= now)
        ).scalars()
        found.update(r for r in rows if r is not None)
    return found

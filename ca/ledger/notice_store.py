"""Store functions of e-mailed notices (issue 11) and the reads their computation needs.

`session` first, never commit (DESIGN §3). `add_notice` is the claim: the unique `key` makes a second
insert of the same notice a no-op (ON CONFLICT DO NOTHING, PostgreSQL and SQLite ≥ 3.24), so two workers
racing insert it once, and only the one whose insert took sends it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ca.ledger.models import AuditEvent, CertificateRecord, User
from ca.ledger.notice_models import Notice
from ca.vocabulary import CertificateStatus


def add_notice(session: Session, values: dict[str, Any]) -> int | None:
    """Insert the notice unless its key exists; its id when this call inserted it, else None."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (insert(Notice).values(**values).on_conflict_do_nothing(index_elements=["key"])
                 .returning(Notice.id))
    return session.execute(statement).scalar_one_or_none()


def existing_notice_keys(session: Session, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update(session.execute(select(Notice.key).where(Notice.key.in_(chunk))).scalars())
    return found


def claim_notice(session: Session, notice_id: int, *, now: datetime, until: datetime) -> Notice | None:
    """Take an unsent notice for delivery until `until`: a conditional UPDATE, so one process wins."""
    result = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.sent_at.is_(None),
                             or_(Notice.claimed_until.is_(None), Notice.claimed_until < now))
        .values(claimed_until=until).execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return None
    return session.get(Notice, notice_id, populate_existing=True)


def list_deliverable_ids(session: Session, *, now: datetime, max_attempts: int, limit: int = 200) -> list[int]:
    return list(session.execute(
        select(Notice.id).where(Notice.sent_at.is_(None), Notice.next_attempt_at <= now,
                                Notice.attempts < max_attempts,
                                or_(Notice.claimed_until.is_(None), Notice.claimed_until < now))
        .order_by(Notice.id).limit(limit)
    ).scalars())


def mark_notice_sent(session: Session, notice_id: int, at: datetime) -> None:
    session.execute(update(Notice).where(Notice.id == notice_id)
                    .values(sent_at=at, claimed_until=None, attempts=Notice.attempts + 1))


def mark_notice_failed(session: Session, notice_id: int, *, error: str, retry_at: datetime) -> None:
    session.execute(update(Notice).where(Notice.id == notice_id)
                    .values(claimed_until=None, attempts=Notice.attempts + 1, last_error=error[:500],
                            next_attempt_at=retry_at))


def list_notices(session: Session, *, company_id: int | None = None) -> list[Notice]:
    query = select(Notice).order_by(Notice.id)
    if company_id is not None:
        query = query.where(Notice.company_id == company_id)
    return list(session.execute(query).scalars())


# --- what the computation reads ------------------------------------------------------------------------
def list_live_browser_certificates(session: Session, *, now: datetime, until: datetime) -> list[CertificateRecord]:
    """Issued browser certificates of a holder in a company, valid now and expiring by `until`."""
    return list(session.execute(
        select(CertificateRecord).where(
            CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.profile == "browser",
            CertificateRecord.user_id.is_not(None), CertificateRecord.company_id.is_not(None),
            CertificateRecord.not_after >= now, CertificateRecord.not_after <= until,
        ).order_by(CertificateRecord.not_after, CertificateRecord.id)
    ).scalars())


def list_recently_revoked(session: Session, *, since: datetime) -> list[CertificateRecord]:
    return list(session.execute(
        select(CertificateRecord).where(
            CertificateRecord.status == CertificateStatus.REVOKED, CertificateRecord.profile == "browser",
            CertificateRecord.user_id.is_not(None), CertificateRecord.revoked_at >= since,
        ).order_by(CertificateRecord.id)
    ).scalars())


def list_events(session: Session, *, action: str, since: datetime) -> list[AuditEvent]:
    return list(session.execute(
        select(AuditEvent).where(AuditEvent.action == action, AuditEvent.at >= since).order_by(AuditEvent.id)
    ).scalars())


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def map_users(session: Session, user_ids: Iterable[int]) -> dict[int, User]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    return {u.id: u for u in session.execute(select(User).where(User.id.in_(ids))).scalars()}

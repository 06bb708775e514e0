"""Counts for the dashboards (issue 15 item 3): each one aggregate query, scoped to a company or not."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ca.ledger.models import CertificateRecord, CertificateRequest, Company, CRLState, IssuerRecord, OCSPResponseRecord
from ca.vocabulary import CertificateStatus, RequestStatus


def _scoped(query: Any, column: Any, company_id: int | None) -> Any:
    return query if company_id is None else query.where(column == company_id)


def _count(session: Session, query: Any) -> int:
    return int(session.execute(query).scalar_one())


def certificate_counts(session: Session, company_id: int | None, now: datetime) -> dict[str, int]:
    """One COUNT per figure, each the range of one index of ca/ledger/dashboard_indexes.py (an index-only
    scan): one query with FILTERed counts would read every row of the table instead."""
    certificates = select(func.count()).select_from(CertificateRecord)
    issued = _scoped(certificates, CertificateRecord.company_id, company_id).where(
        CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.not_after >= now)
    soon = issued.where(CertificateRecord.not_after <= now + timedelta(days=30))
    recent = _scoped(certificates, CertificateRecord.company_id, company_id).where(
        CertificateRecord.status == CertificateStatus.REVOKED, CertificateRecord.revoked_at >= now - timedelta(days=7))
    pending = _scoped(select(func.count()).select_from(CertificateRequest)
                      .where(CertificateRequest.status == RequestStatus.PENDING), CertificateRequest.company_id,
                      company_id)
    return {"live": _count(session, issued), "expiring_30_days": _count(session, soon),
            "revoked_7_days": _count(session, recent), "pending_requests": _count(session, pending)}


def count_companies(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Company)).scalar_one())


def issuer_freshness(session: Session) -> list[tuple[str, str, CRLState | None, datetime | None]]:
    """(issuer name, status, its full CRL state, the oldest nextUpdate of its stored OCSP answers)."""
    rows: list[tuple[str, str, CRLState | None, datetime | None]] = []
    for issuer in session.execute(select(IssuerRecord).order_by(IssuerRecord.id)).scalars():
        crl = session.get(CRLState, (issuer.id, "full"))
        oldest = session.execute(select(func.min(OCSPResponseRecord.next_update))
                                 .where(OCSPResponseRecord.issuer_id == issuer.id)).scalar_one()
        rows.append((issuer.name, issuer.status, crl, oldest))
    return rows

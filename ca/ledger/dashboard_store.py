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


def certificate_counts(session: Session, company_id: int | None, now: datetime) -> dict[str, int]:
    live = (CertificateRecord.status == CertificateStatus.ISSUED) & (CertificateRecord.not_after >= now)
    soon = live & (CertificateRecord.not_after <= now + timedelta(days=30))
    recent = (CertificateRecord.status == CertificateStatus.REVOKED) & (CertificateRecord.revoked_at
                                                                       >= now - timedelta(days=7))
    query = select(func.count().filter(live), func.count().filter(soon), func.count().filter(recent))
    query = _scoped(query.select_from(CertificateRecord), CertificateRecord.company_id, company_id)
    row = session.execute(query).one()
    pending = _scoped(select(func.count()).select_from(CertificateRequest)
                      .where(CertificateRequest.status == RequestStatus.PENDING), CertificateRequest.company_id,
                      company_id)
    return {"live": int(row[0]), "expiring_30_days": int(row[1]), "revoked_7_days": int(row[2]),
            "pending_requests": int(session.execute(pending).scalar_one())}


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

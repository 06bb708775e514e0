"""Store functions for readiness checks (`/readyz`): cheap reads, `session` first, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ca.ledger.models import CertificateRecord, OCSPResponseRecord
from ca.vocabulary import SIGNED_STATUSES


def ping(session: Session) -> None:
    """One round trip: raises LedgerUnavailableError (ca.ledger.database) when the ledger is out of reach."""
    session.execute(text("SELECT 1")).scalar_one()


def count_expired_ocsp_responses(session: Session, now: datetime) -> int:
    """Stored pre-signed answers past their nextUpdate for certificates still valid: the upkeep fell behind
    (answers are re-signed at half of their validity, so a healthy ledger has none)."""
    query = (select(func.count()).select_from(OCSPResponseRecord)
             .join(CertificateRecord, (CertificateRecord.issuer_id == OCSPResponseRecord.issuer_id)
                   & (CertificateRecord.serial == OCSPResponseRecord.serial))
             .where(OCSPResponseRecord.next_update <= now, CertificateRecord.not_after > now,
                    CertificateRecord.status.in_(list(SIGNED_STATUSES))))
    return int(session.execute(query).scalar_one())

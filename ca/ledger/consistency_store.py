"""The ledger's reads and writes for `pkictl db check` (ca/consistency.py): intent rows a crash left behind,
the signed rows whose DER is checked, and the close-out of stale intents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from ca.ledger import Session
from ca.ledger.models import CertificateRecord, CertificateRequest, IssuerRecord
from ca.ledger.portal_store import mark_request
from ca.vocabulary import SIGNED_STATUSES, CertificateStatus, RequestStatus

# Request statuses that wait for a certificate: an intent closed out leaves them without one.
_WAITING_REQUESTS = (RequestStatus.APPROVED, RequestStatus.ISSUING)


def list_stale_pending(session: Session, recorded_before: datetime, *, lock: bool = False) -> list[CertificateRecord]:
    """Intent rows (DESIGN §4 step 2) recorded at or before `recorded_before` and never completed.

    `lock` takes their row locks (PostgreSQL FOR UPDATE): an issuance finishing at the same moment either
    stored its DER first (the row is then re-read as issued and drops out of the result) or waits and finds
    the row closed (issuance_store.mark_issued re-reads it under the row lock), so a certificate is never
    both handed out and closed out."""
    query = (select(CertificateRecord)
             .where(CertificateRecord.status == CertificateStatus.PENDING,
                    CertificateRecord.created_at <= recorded_before)
             .order_by(CertificateRecord.id))
    if lock:
        query = query.with_for_update()
    return list(session.execute(query).scalars())


def issuer_certificates(session: Session) -> dict[int, tuple[str, bytes]]:
    """Every issuer ever installed: id → (name, certificate DER)."""
    return {row.id: (row.name, row.certificate_der) for row in session.execute(select(IssuerRecord)).scalars()}


def iter_signed_certificates(session: Session, chunk: int = 1000) -> Iterator[CertificateRecord]:
    """Every row that claims a signed certificate (issued or revoked), streamed in id order."""
    query = (select(CertificateRecord).where(CertificateRecord.status.in_(SIGNED_STATUSES))
             .order_by(CertificateRecord.id).execution_options(yield_per=chunk))
    yield from session.execute(query).scalars()


def close_pending(session: Session, record: CertificateRecord, *, at: datetime,
                  comment: str) -> CertificateRequest | None:
    """Mark an intent row `failed` (nothing was handed out); its request, if it was still waiting for this
    certificate, is marked `failed` with `comment` too and returned, so the caller audits it."""
    record.status = CertificateStatus.FAILED
    session.flush()
    request = session.get(CertificateRequest, record.request_id) if record.request_id is not None else None
    if request is None or request.status not in _WAITING_REQUESTS:
        return None
    return mark_request(session, request, status=RequestStatus.FAILED, at=at, comment=comment)

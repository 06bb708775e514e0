"""One request as its requester sees it right after issuance (issue 14 §1): the request, its requester and
its certificate's serial, in one Core statement of one read-only transaction.

`POST /api/v1/requests` answered with three ORM statements after the issuance (the request, its serial, its
requester); the answer still comes from the ledger as committed — the certificate's row is durable before
this read — but in one statement, without a write lock on SQLite (ca.ledger.issuance_reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.engine import Engine

from ca.errors import NotFoundError
from ca.ledger.issuance_reads import READ_ONLY
from ca.ledger.models import CertificateRecord, CertificateRequest, User
from ca.vocabulary import SIGNED_STATUSES

_REQUESTS: Table = CertificateRequest.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_CERTIFICATES: Table = CertificateRecord.__table__  # type: ignore[assignment]

_SERIAL = (select(_CERTIFICATES.c.serial)
           .where(_CERTIFICATES.c.request_id == _REQUESTS.c.id, _CERTIFICATES.c.status.in_(list(SIGNED_STATUSES)))
           .order_by(_CERTIFICATES.c.id.desc()).limit(1).scalar_subquery())
_REQUEST_OF_COMPANY = (
    select(_REQUESTS.c.id, _USERS.c.email, _USERS.c.full_name, _REQUESTS.c.csr_der.is_not(None).label("has_csr"),
           _REQUESTS.c.status, _REQUESTS.c.comment, _REQUESTS.c.created_at, _REQUESTS.c.decided_at,
           _SERIAL.label("serial"))
    .select_from(_REQUESTS.join(_USERS, _USERS.c.id == _REQUESTS.c.user_id))
    .where(and_(_REQUESTS.c.id == bindparam("request_id"), _REQUESTS.c.company_id == bindparam("company_id")))
)


@dataclass(frozen=True)
class RequestFacts:
    id: int
    user_email: str
    user_name: str
    has_csr: bool
    status: str
    comment: str | None
    created_at: datetime
    decided_at: datetime | None
    certificate_serial: str | None


def read_company_request(engine: Engine, company_id: int, request_id: int) -> RequestFacts:
    """The company's request as committed now (NotFoundError, as portal_store.get_company_request)."""
    with engine.connect() as connection:
        row = connection.execution_options(**READ_ONLY).execute(
            _REQUEST_OF_COMPANY, {"request_id": request_id, "company_id": company_id}).first()
        connection.rollback()
    if row is None:
        raise NotFoundError(f"no certificate request #{request_id}")
    return RequestFacts(row.id, row.email, row.full_name, bool(row.has_csr), row.status, row.comment,
                        row.created_at, row.decided_at, row.serial)

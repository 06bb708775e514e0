"""Paginated, searchable reads of the ledger's lists (issue 15 item 2); each takes its scope explicitly.

Search (`q`), one rule for every certificate list: text with an `@` is a holder's e-mail (any case); hex
digits, with or without colons, at least 8 of them, a serial (any case, exact); anything else is looked for
in the subject (names, company, EIC), case-insensitively.

On PostgreSQL the subject search is served by migration 0017's GIN index on (company_id, subject
gin_trgm_ops): `subject ILIKE '%text%'` as written here is the form its operator class answers, the
company's equality and the text's trigrams intersected in one index scan. Text of one or two characters has
no trigram: the planner then walks the company's rows (ix_certificates_company_id) as SQLite always does;
the rows found are the same either way (tests/api/test_pagination.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ca.ledger.models import AuditEvent, CertificateRecord, CertificateRequest, Company, User
from ca.ledger.pagination import SortColumn, fetch_page
from ca.pagination import PageRequest
from ca.vocabulary import SIGNED_STATUSES, CertificateStatus

CERTIFICATE_SORTS = {
    "issued": SortColumn(CertificateRecord.id, "int"),
    "not_after": SortColumn(CertificateRecord.not_after, "datetime"),
    "serial": SortColumn(CertificateRecord.serial, "str"),
}
_SERIAL = re.compile(r"(?:[0-9A-Fa-f]{2}:)*[0-9A-Fa-f]+\Z")


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's own wildcards escaped (ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def serial_of(text: str) -> str | None:
    """The ledger spelling of a typed serial (lower-case hex, even length, no colons), or None."""
    if not _SERIAL.match(text) or len(text.replace(":", "")) < 8:
        return None
    digits = text.replace(":", "").lower().lstrip("0") or "0"
    return digits if len(digits) % 2 == 0 else "0" + digits


def search_certificates(query: Select[Any], q: str | None) -> Select[Any]:
    if not q:
        return query
    if "@" in q:
        holders = select(User.id).where(func.lower(User.email) == q.lower())
        return query.where(CertificateRecord.user_id.in_(holders))
    serial = serial_of(q)
    if serial is not None:  # an exact serial is an index look-up; no subject holds 8+ hex digits alone
        return query.where(CertificateRecord.serial == serial)
    return query.where(CertificateRecord.subject.ilike(like_pattern(q), escape="\\"))


@dataclass(frozen=True)
class CertificateScope:
    """Which certificates a list shows: a company's signed ones, optionally one holder's, by state."""

    company_id: int | None
    user_id: int | None = None
    status: str | None = None  # issued (live) | revoked | expired | None (any signed)
    expiring_before: datetime | None = None  # live and notAfter before this
    unused_before: datetime | None = None  # live and last used (or issued) before this


def page_certificates(session: Session, scope: CertificateScope, request: PageRequest, now: datetime
                      ) -> tuple[list[CertificateRecord], str | None]:
    query = certificates_query(scope, request.q, now)
    within = None if scope.company_id is None else (CertificateRecord.company_id, scope.company_id)
    return fetch_page(session, query, request=request, sorts=CERTIFICATE_SORTS, id_column=CertificateRecord.id,
                      within=within)


def certificates_query(scope: CertificateScope, q: str | None, now: datetime) -> Select[Any]:
    """The signed certificates in `scope` matching `q`, unordered: one list's rows, for a page or an export."""
    query = select(CertificateRecord).where(CertificateRecord.status.in_(SIGNED_STATUSES))
    if scope.company_id is not None:
        query = query.where(CertificateRecord.company_id == scope.company_id)
    if scope.user_id is not None:
        query = query.where(CertificateRecord.user_id == scope.user_id)
    live = scope.status == CertificateStatus.ISSUED or scope.expiring_before or scope.unused_before
    if live:
        query = query.where(CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.not_after >= now)
    elif scope.status == CertificateStatus.EXPIRED:
        query = query.where(CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.not_after < now)
    elif scope.status is not None:
        query = query.where(CertificateRecord.status == scope.status)
    if scope.expiring_before is not None:
        query = query.where(CertificateRecord.not_after <= scope.expiring_before)
    if scope.unused_before is not None:
        query = query.where(func.coalesce(CertificateRecord.last_used_at, CertificateRecord.not_before)
                            < scope.unused_before)
    return search_certificates(query, q)


def map_company_eics(session: Session, company_ids: Any) -> dict[int, str]:
    """company id → EIC for the given ids, in one query (a page needs its own rows' companies, not 100,000)."""
    ids = sorted(set(company_ids))
    if not ids:
        return {}
    return {row[0]: row[1] for row in session.execute(select(Company.id, Company.eic).where(Company.id.in_(ids)))}


EVENT_SORTS = {"id": SortColumn(AuditEvent.id, "int")}


def page_events(session: Session, company_id: int, request: PageRequest) -> tuple[list[AuditEvent], str | None]:
    """A company's audit events; `q` is who acted (exact), what it was done on (exact) or an action prefix."""
    query = select(AuditEvent).where(AuditEvent.company_id == company_id)
    if request.q:
        query = query.where(or_(AuditEvent.actor == request.q, AuditEvent.object_id == request.q,
                                AuditEvent.action.like(like_pattern(request.q)[1:], escape="\\")))
    return fetch_page(session, query, request=request, sorts=EVENT_SORTS, id_column=AuditEvent.id)


COMPANY_SORTS = {"registered": SortColumn(Company.id, "int"), "eic": SortColumn(Company.eic, "str")}


def search_companies(query: Select[Any], q: str | None) -> Select[Any]:
    """`q` is an EIC (exact, any case) or a part of the name (any case): on PostgreSQL one BitmapOr of the
    EIC's unique index and migration 0017's trigram index on the name (text of three characters or more)."""
    if not q:
        return query
    return query.where(or_(Company.eic == q.upper(), Company.name.ilike(like_pattern(q), escape="\\")))


def page_companies(session: Session, request: PageRequest) -> tuple[list[Company], str | None]:
    """Every company (operators), searched by search_companies."""
    query = search_companies(select(Company), request.q)
    return fetch_page(session, query, request=request, sorts=COMPANY_SORTS, id_column=Company.id)


def find_certificates_by_serial(session: Session, serial: str, limit: int = 20) -> list[CertificateRecord]:
    """Every signed certificate with this serial, whatever its company (operator search; ix_certificates_serial)."""
    query = select(CertificateRecord).where(CertificateRecord.serial == serial,
                                            CertificateRecord.status.in_(SIGNED_STATUSES))
    return list(session.execute(query.order_by(CertificateRecord.id).limit(limit)).scalars())


USER_SORTS = {"registered": SortColumn(User.id, "int"), "email": SortColumn(User.email, "str")}


def page_company_users(session: Session, company_id: int, request: PageRequest) -> tuple[list[User], str | None]:
    """A company's people; `q` is a part of the e-mail address or of the name, any case."""
    query = select(User).where(User.company_id == company_id)
    if request.q:
        pattern = like_pattern(request.q)
        query = query.where(or_(User.email.ilike(pattern, escape="\\"), User.full_name.ilike(pattern, escape="\\")))
    return fetch_page(session, query, request=request, sorts=USER_SORTS, id_column=User.id)


def count_live_certificates_of(session: Session, company_id: int, user_ids: list[int], now: datetime
                               ) -> dict[int, int]:
    """user id → live (issued, unexpired) certificates in the company, for one page of people in one query."""
    if not user_ids:
        return {}
    query = (select(CertificateRecord.user_id, func.count())
             .where(CertificateRecord.company_id == company_id, CertificateRecord.user_id.in_(user_ids),
                    CertificateRecord.status == CertificateStatus.ISSUED)
             .group_by(CertificateRecord.user_id))
    counts: dict[int, int] = {}
    for user_id, count in session.execute(query):
        if user_id is not None:
            counts[int(user_id)] = int(count)
    return counts


REQUEST_SORTS = {"created": SortColumn(CertificateRequest.id, "int")}


def page_requests(session: Session, company_id: int, request: PageRequest, *, user_id: int | None = None,
                  status: str | None = None) -> tuple[list[CertificateRequest], str | None]:
    """A company's certificate requests (a person's own with `user_id`); `q` is the requester's e-mail."""
    query = select(CertificateRequest).where(CertificateRequest.company_id == company_id)
    if user_id is not None:
        query = query.where(CertificateRequest.user_id == user_id)
    if status is not None:
        query = query.where(CertificateRequest.status == status)
    if request.q:
        requesters = select(User.id).where(func.lower(User.email) == request.q.lower())
        query = query.where(CertificateRequest.user_id.in_(requesters))
    return fetch_page(session, query, request=request, sorts=REQUEST_SORTS, id_column=CertificateRequest.id)

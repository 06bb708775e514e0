"""Paginated certificate lists (issue 15 item 2): the company's, for its administrators, and a person's own.

Same scope rules as ca.certificates (company from the actor, never from the request), one page at a time
(ca.pagination), the same search everywhere (ca.ledger.list_store).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from ca.actor import Actor
from ca.certificates import CertificateFilter, CertificateView, certificate_views
from ca.ledger import Session, portal_store
from ca.ledger.export_store import read_only, stream_certificates
from ca.ledger.list_store import CERTIFICATE_SORTS, CertificateScope, page_certificates
from ca.pagination import Page, PageRequest
from ca.runtime import Runtime
from ca.scope import own_company

SORTS = tuple(CERTIFICATE_SORTS)
DEFAULT_SORT = "-issued"  # newest first


def page_company_certificates(runtime: Runtime, actor: Actor, filters: CertificateFilter | None,
                              request: PageRequest) -> Page[CertificateView]:
    """One page of the administrator's company's signed certificates, filtered, searched and sorted."""
    company_id = own_company(actor)
    filters = (filters or CertificateFilter()).check()
    request = request.checked(SORTS, DEFAULT_SORT)
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        scope = _company_scope(session, company_id, filters, now)
        records, cursor = page_certificates(session, scope, request, now)
        return Page(items=certificate_views(session, records, now), next=cursor)


def _company_scope(session: Session, company_id: int, filters: CertificateFilter, now: datetime
                   ) -> CertificateScope:
    user_id = None
    if filters.user_email:
        user = portal_store.find_user_by_email(session, filters.user_email.strip())
        user_id = user.id if user else -1  # someone outside the ledger simply has no certificates
    return CertificateScope(
        company_id=company_id, user_id=user_id, status=filters.status,
        expiring_before=now + timedelta(days=filters.expiring_days) if filters.expiring_days else None,
        unused_before=now - timedelta(days=filters.unused_days) if filters.unused_days else None)


def export_company_certificates(runtime: Runtime, actor: Actor, filters: CertificateFilter | None,
                                q: str | None = None) -> Iterator[list[CertificateView]]:
    """Every certificate of the company's list (same filters and search as its pages), newest first, in
    batches read from a server-side cursor. The scope and the filters are checked HERE, before the first
    batch, so that a refusal is an error answer and not a download cut short."""
    company_id = own_company(actor)
    filters = (filters or CertificateFilter()).check()
    search = PageRequest(q=q).checked(SORTS, DEFAULT_SORT).q
    return _export_batches(runtime, company_id, filters, search)


def _export_batches(runtime: Runtime, company_id: int, filters: CertificateFilter, q: str | None
                    ) -> Iterator[list[CertificateView]]:
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        read_only(session)
        scope = _company_scope(session, company_id, filters, now)
        for records in stream_certificates(session, scope, q, now):
            yield certificate_views(session, records, now)


def page_my_certificates(runtime: Runtime, actor: Actor, request: PageRequest) -> Page[CertificateView]:
    """One page of the person's own certificates in their current company."""
    request = request.checked(SORTS, DEFAULT_SORT)
    if actor.company_id is None or actor.user_id is None:
        return Page()
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        scope = CertificateScope(company_id=actor.company_id, user_id=actor.user_id)
        records, cursor = page_certificates(session, scope, request, now)
        return Page(items=certificate_views(session, records, now), next=cursor)

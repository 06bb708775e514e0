"""Paginated certificate lists (issue 15 item 2): the company's, for its administrators, and a person's own.

Same scope rules as ca.certificates (company from the actor, never from the request), one page at a time
(ca.pagination), the same search everywhere (ca.ledger.list_store).
"""

from __future__ import annotations

from datetime import timedelta

from ca.actor import Actor
from ca.certificates import CertificateFilter, CertificateView, certificate_views
from ca.ledger import portal_store
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
        user_id = None
        if filters.user_email:
            user = portal_store.find_user_by_email(session, filters.user_email.strip())
            user_id = user.id if user else -1  # someone outside the ledger simply has no certificates
        scope = CertificateScope(
            company_id=company_id, user_id=user_id, status=filters.status,
            expiring_before=now + timedelta(days=filters.expiring_days) if filters.expiring_days else None,
            unused_before=now - timedelta(days=filters.unused_days) if filters.unused_days else None)
        records, cursor = page_certificates(session, scope, request, now)
        return Page(items=certificate_views(session, records, now), next=cursor)


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

"""The operator's company list one page at a time (issue 15 item 2): 100,000 companies are never loaded at
once; newest first by default, or by EIC; search by EIC or name."""

from __future__ import annotations

from ca.actor import Actor
from ca.ledger.list_store import COMPANY_SORTS, page_companies
from ca.pagination import Page, PageRequest
from ca.runtime import Runtime
from enrollment.accounts.companies import company_view
from enrollment.accounts.views import CompanyView


def page_company_list(runtime: Runtime, actor: Actor, request: PageRequest) -> Page[CompanyView]:
    actor.require_operator()
    request = request.checked(tuple(COMPANY_SORTS), "-registered")
    with runtime.sessionmaker() as session:
        rows, cursor = page_companies(session, request)
        return Page(items=[company_view(c) for c in rows], next=cursor)

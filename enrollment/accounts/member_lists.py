"""A company's people one page at a time (issue 15 item 2), each with their live certificates counted in one
query per page; newest first or by e-mail; `q` is a part of the e-mail address or of the name."""

from __future__ import annotations

from ca.actor import Actor
from ca.ledger import store
from ca.ledger.list_store import USER_SORTS, count_live_certificates_of, page_company_users
from ca.pagination import Page, PageRequest
from ca.runtime import Runtime
from ca.scope import one_company
from enrollment.accounts.views import MemberView, member_view


def page_members(runtime: Runtime, actor: Actor, request: PageRequest, *,
                 company_eic: str | None = None) -> Page[MemberView]:
    request = request.checked(tuple(USER_SORTS), "-registered")
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        company_id = one_company(session, actor, company_eic,
                                 refusal="only a company administrator may see the company's people")
        eic = store.get_company(session, company_id).eic
        rows, cursor = page_company_users(session, company_id, request)
        live = count_live_certificates_of(session, company_id, [u.id for u in rows], now)
        return Page(items=[member_view(u, eic, live.get(u.id, 0)) for u in rows], next=cursor)

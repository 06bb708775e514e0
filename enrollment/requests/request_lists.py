"""Certificate requests one page at a time (issue 15 item 2): a person's own, and the company's queue for its
administrators; newest first; `q` is the requester's e-mail."""

from __future__ import annotations

from ca.actor import Actor
from ca.errors import BadRequestError
from ca.ledger.list_store import REQUEST_SORTS, page_requests
from ca.pagination import Page, PageRequest
from ca.runtime import Runtime
from ca.scope import own_company
from ca.vocabulary import RequestStatus
from enrollment.requests.approval import RequestView
from enrollment.requests.approval import _views as request_views

STATUSES = tuple(RequestStatus)


def _checked_status(status: str | None) -> str | None:
    if status in (None, "", "all"):
        return None
    if status not in STATUSES:
        raise BadRequestError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)} or all")
    return status


def page_my_requests(runtime: Runtime, actor: Actor, request: PageRequest, *,
                     status: str | None = None) -> Page[RequestView]:
    """The person's own requests in their current company, every status unless one is asked for."""
    request = request.checked(tuple(REQUEST_SORTS), "-created")
    wanted = _checked_status(status)
    if actor.company_id is None or actor.user_id is None:
        return Page()
    with runtime.sessionmaker() as session:
        rows, cursor = page_requests(session, actor.company_id, request, user_id=actor.user_id, status=wanted)
        return Page(items=request_views(session, rows), next=cursor)


def page_company_requests(runtime: Runtime, actor: Actor, request: PageRequest, *,
                          status: str | None = RequestStatus.PENDING) -> Page[RequestView]:
    company_id = own_company(actor, "only a company administrator sees the company's requests")
    request = request.checked(tuple(REQUEST_SORTS), "-created")
    wanted = _checked_status(status)
    with runtime.sessionmaker() as session:
        rows, cursor = page_requests(session, company_id, request, status=wanted)
        return Page(items=request_views(session, rows), next=cursor)

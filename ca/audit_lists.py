"""The company's audit trail one page at a time (issue 15 item 2): newest first by default, searchable by
who acted, what it was done on, or the start of the action's name (`certificate.` finds every certificate
event)."""

from __future__ import annotations

from ca.actor import Actor
from ca.audit_trail import AuditEventView
from ca.ledger.list_store import EVENT_SORTS, page_events
from ca.pagination import Page, PageRequest
from ca.runtime import Runtime
from ca.scope import one_company


def page_company_audit_trail(runtime: Runtime, actor: Actor, request: PageRequest,
                             company_eic: str | None = None) -> Page[AuditEventView]:
    request = request.checked(tuple(EVENT_SORTS), "-id")
    with runtime.sessionmaker() as session:
        company_id = one_company(session, actor, company_eic)
        rows, cursor = page_events(session, company_id, request)
        return Page(items=[AuditEventView.from_row(e) for e in rows], next=cursor)

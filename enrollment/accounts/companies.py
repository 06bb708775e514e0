"""Companies: registered by an operator, identified by their EIC code."""

from __future__ import annotations

from ca.actor import Actor
from ca.ledger import portal_store, store
from ca.ledger.audit import append_event
from ca.ledger.models import Company
from ca.runtime import Runtime
from ca.scope import find_company
from ca.vocabulary import ADMIN_ROLES
from ca.x509.names import validate_display_name, validate_eic
from enrollment.accounts.views import CompanyOverview, CompanyView, ConnectionPointView, member_view


def company_view(company: Company) -> CompanyView:
    return CompanyView(
        eic=company.eic, name=company.name, approval_policy=company.approval_policy, created_at=company.created_at
    )


def create_company(runtime: Runtime, actor: Actor, *, eic: str, name: str) -> CompanyView:
    actor.require_operator()
    eic = validate_eic(eic)
    name = validate_display_name(name, "company name")
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company = store.add_company(session, eic=eic, name=name, at=now)
        append_event(
            session, at=now, actor=actor.name, action="company.created", object_type="company", object_id=eic,
            company_id=company.id, details={"name": name}, source_ip=actor.source_ip,
        )
        return company_view(company)


def list_companies(runtime: Runtime, actor: Actor) -> list[CompanyView]:
    with runtime.sessionmaker() as session:
        companies = store.list_companies(session)
        return [company_view(c) for c in companies if actor.can_see_company(c.id)]


def company_overview(runtime: Runtime, actor: Actor, *, company_eic: str) -> CompanyOverview:
    """The operator's page of one company: policy, administrators, connection points, head count."""
    actor.require_operator()
    with runtime.sessionmaker() as session:
        company = find_company(session, company_eic)
        users = portal_store.list_company_users(session, company.id)
        return CompanyOverview(
            eic=company.eic, name=company.name, approval_policy=company.approval_policy,
            administrators=[member_view(u, company.eic) for u in users if u.role in ADMIN_ROLES],
            connection_points=[ConnectionPointView(id=p.id, code=p.code, label=p.label)
                               for p in portal_store.list_connection_points(session, company.id)],
            users=len(users),
        )

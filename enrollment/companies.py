"""Companies: registered by an operator, identified by their EIC code."""

from __future__ import annotations

from ca.actor import Actor
from ca.errors import BadRequestError
from ca.ledger import store
from ca.ledger.audit import append_event
from ca.ledger.models import Company
from ca.runtime import Runtime
from ca.x509.names import validate_eic
from enrollment.views import CompanyView


def company_view(company: Company) -> CompanyView:
    return CompanyView(
        eic=company.eic, name=company.name, approval_policy=company.approval_policy, created_at=company.created_at
    )


def create_company(runtime: Runtime, actor: Actor, *, eic: str, name: str) -> CompanyView:
    actor.require_operator()
    eic = validate_eic(eic)
    name = " ".join(name.split())
    if not name or len(name) > 64:
        raise BadRequestError("company name must be 1 to 64 characters")
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

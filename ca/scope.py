"""The company-scope rule, written once: which company's rows a query may touch (ASVS 5.0 V8.4.1).

Operators act for the CA and may name any company; company people act within their own company, and
naming another one is answered exactly like a company that does not exist, so nothing leaks across
tenants. Every use case that lists or changes a company's rows asks `company_scope` first.
"""

from __future__ import annotations

from ca.actor import Actor
from ca.errors import BadRequestError, NotAuthorizedError, NotFoundError
from ca.ledger import Session, store
from ca.ledger.models import Company
from ca.x509.names import normalize_eic


def find_company(session: Session, eic: str) -> Company:
    """The company with this EIC code, typed in any case and with spaces around (NotFoundError otherwise)."""
    return store.get_company_by_eic(session, normalize_eic(eic))


def company_scope(session: Session, actor: Actor, company_eic: str | None = None, *, admins_only: bool = True,
                  refusal: str = "only a company administrator may do this") -> int | None:
    """The company id the actor's query is limited to; None (every company) for an operator naming none."""
    if actor.is_operator:
        return find_company(session, company_eic).id if company_eic else None
    return _members_company(session, actor, company_eic, admins_only, refusal)


def one_company(session: Session, actor: Actor, company_eic: str | None = None, *, admins_only: bool = True,
                refusal: str = "only a company administrator may do this") -> int:
    """Like `company_scope`, for a question about one company: an operator must name it."""
    if actor.is_operator:
        if not company_eic:
            raise BadRequestError("choose a company")
        return find_company(session, company_eic).id
    return _members_company(session, actor, company_eic, admins_only, refusal)


def _members_company(session: Session, actor: Actor, company_eic: str | None, admins_only: bool,
                     refusal: str) -> int:
    if actor.company_id is None or (admins_only and not actor.is_company_admin):
        raise NotAuthorizedError(refusal)
    if company_eic and normalize_eic(company_eic) != store.get_company(session, actor.company_id).eic:
        raise NotFoundError(f"no company with EIC {normalize_eic(company_eic)}")
    return actor.company_id


def own_company(actor: Actor, refusal: str = "only a company administrator may do this") -> int:
    """The administrator's own company, without a database look-up (groups, requests, policies)."""
    if not actor.is_company_admin or actor.company_id is None:
        raise NotAuthorizedError(refusal)
    return actor.company_id

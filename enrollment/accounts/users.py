"""User accounts and roles; a user belongs to at most one company at a time."""

from __future__ import annotations

import re

from ca.actor import Actor
from ca.errors import BadRequestError, NotAuthorizedError
from ca.ledger import store
from ca.ledger.audit import append_event
from ca.ledger.models import User
from ca.runtime import Runtime
from ca.scope import company_scope, find_company
from ca.vocabulary import Role, UserStatus
from ca.x509.names import validate_display_name
from enrollment.accounts.views import UserView

ROLES = (Role.OPERATOR, Role.FIRST_ADMIN, Role.ADMIN, Role.USER)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def validate_email(email: str) -> str:
    """ASCII addresses only: the address goes into an rfc822Name SAN, which is IA5String (RFC 5280 §4.2.1.6)."""
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise BadRequestError(f"invalid e-mail address {email!r}")
    return email


def validate_full_name(name: str) -> str:
    return validate_display_name(name, "full name")


def user_view(user: User, company_eic: str | None) -> UserView:
    return UserView(email=user.email, full_name=user.full_name, role=user.role, status=user.status,
                    company=company_eic)


def create_user(
    runtime: Runtime, actor: Actor, *, email: str, full_name: str, company_eic: str | None, role: str = Role.USER
) -> UserView:
    """Operators create anyone; company administrators create admins and users of their own company."""
    if role not in ROLES:
        raise BadRequestError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    email = validate_email(email)
    full_name = validate_full_name(full_name)
    if role == Role.OPERATOR and company_eic:
        raise BadRequestError("an operator belongs to no company")
    if role != Role.OPERATOR and not company_eic:
        raise BadRequestError(f"a {role} needs a company (--company EIC)")
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company = find_company(session, company_eic) if company_eic else None
        if not actor.is_operator:
            if not (actor.is_company_admin and company and company.id == actor.company_id):
                raise NotAuthorizedError("you may only create accounts in your own company")
            if role in (Role.OPERATOR, Role.FIRST_ADMIN):
                raise NotAuthorizedError(f"only an operator may create a {role}")
        user = store.add_user(session, email=email, full_name=full_name, role=role,
                              company_id=company.id if company else None, status=UserStatus.ACTIVE, at=now)
        append_event(
            session, at=now, actor=actor.name, action="user.created", object_type="user", object_id=email,
            company_id=company.id if company else None, details={"role": role, "full_name": full_name},
            source_ip=actor.source_ip,
        )
        return user_view(user, company.eic if company else None)


def list_users(runtime: Runtime, actor: Actor, *, company_eic: str | None = None) -> list[UserView]:
    with runtime.sessionmaker() as session:
        company_id = company_scope(session, actor, company_eic, admins_only=False,
                                   refusal="you may only list users of your own company")
        eics = {c.id: c.eic for c in store.list_companies(session)}
        return [user_view(u, eics.get(u.company_id) if u.company_id is not None else None)
                for u in store.list_users(session, company_id)]

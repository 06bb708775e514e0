"""Plain views of people and companies handed to adapters (no ORM object leaves a transaction)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ca.actor import Actor
from ca.clock import iso_or_none
from ca.ledger.models import User
from ca.vocabulary import ActorKind, Role, UserStatus


@dataclass(frozen=True)
class CompanyView:
    eic: str
    name: str
    approval_policy: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = iso_or_none(self.created_at)
        return data


@dataclass(frozen=True)
class UserView:
    email: str
    full_name: str
    role: str
    status: str
    company: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



@dataclass(frozen=True)
class Principal:
    """Who is logged in, re-read from the ledger on every request (a detached user loses access at once)."""

    actor: Actor
    user_id: int
    email: str
    full_name: str
    role: str
    status: str
    company_eic: str | None
    company_name: str | None
    requested_company: str | None = None  # EIC a pending user waits to join
    approval_policy: str | None = None  # of the company: auto | manual
    locale: str | None = None  # the portal language the person chose; None: the browser's

    @property
    def is_operator(self) -> bool:
        return self.actor.is_operator

    @property
    def is_admin(self) -> bool:
        return self.actor.is_company_admin

    @property
    def is_first_admin(self) -> bool:
        return self.actor.is_first_admin

    @property
    def may_request(self) -> bool:
        return self.actor.kind == ActorKind.USER and self.actor.company_id is not None

    def to_dict(self) -> dict[str, Any]:
        return {"email": self.email, "full_name": self.full_name, "role": self.role, "status": self.status,
                "company": self.company_eic, "company_name": self.company_name,
                "requested_company": self.requested_company, "approval_policy": self.approval_policy,
                "may_request_certificates": self.may_request}


@dataclass(frozen=True)
class LoginResult:
    session_token: str
    principal: Principal


@dataclass(frozen=True)
class MemberView:
    id: int
    email: str
    full_name: str
    role: str
    status: str
    company: str | None
    live_certificates: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConnectionPointView:
    id: int
    code: str
    label: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CompanyOverview:
    """The operator's page of one company."""

    eic: str
    name: str
    approval_policy: str
    administrators: list[MemberView]
    connection_points: list[ConnectionPointView]
    users: int

    @property
    def first_admin(self) -> MemberView | None:
        """The company's first administrator (invited or active), if it has one: the page offers to
        designate one only when it has none (issue 15 item 6)."""
        return next((a for a in self.administrators
                     if a.role == Role.FIRST_ADMIN and a.status != UserStatus.DEACTIVATED), None)


def member_view(user: User, company_eic: str | None, live_certificates: int = 0) -> MemberView:
    return MemberView(id=user.id, email=user.email, full_name=user.full_name, role=user.role, status=user.status,
                      company=company_eic, live_certificates=live_certificates)

"""Plain views handed to the portal and the API (no ORM object leaves a transaction)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ca.actor import Actor


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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

    @property
    def is_operator(self) -> bool:
        return self.actor.is_operator

    @property
    def is_admin(self) -> bool:
        return self.actor.is_company_admin

    @property
    def is_first_admin(self) -> bool:
        return self.actor.kind == "user" and self.actor.role == "first-admin"

    @property
    def may_request(self) -> bool:
        return self.actor.kind == "user" and self.actor.company_id is not None

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
class ServiceView:
    code: str
    name: str

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
class GroupView:
    id: int
    name: str
    members: list[MemberView] = field(default_factory=list)
    services: list[ServiceView] = field(default_factory=list)
    perimeter: list[ConnectionPointView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name,
                "members": [{"id": m.id, "email": m.email, "full_name": m.full_name} for m in self.members],
                "services": [s.to_dict() for s in self.services],
                "perimeter": [p.to_dict() for p in self.perimeter]}


@dataclass(frozen=True)
class RequestView:
    id: int
    user: str
    user_name: str
    kind: str  # csr | keygen
    status: str  # pending | approved | rejected | issued | failed
    comment: str | None
    created_at: datetime
    decided_at: datetime | None
    certificate_serial: str | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = _iso(self.created_at)
        data["decided_at"] = _iso(self.decided_at)
        return data


@dataclass(frozen=True)
class RequestOutcome:
    """What a certificate request gave: the request and, when approved at once, the certificate."""

    request: RequestView
    serial: str | None = None


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    body: bytes


@dataclass(frozen=True)
class AuditEventView:
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    source_ip: str | None

    @classmethod
    def from_row(cls, row: Any) -> AuditEventView:
        return cls(id=row.id, at=row.at, actor=row.actor, action=row.action, object_type=row.object_type,
                   object_id=row.object_id, details=json.loads(row.details or "{}"), source_ip=row.source_ip)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = _iso(self.at)
        return data


@dataclass(frozen=True)
class CompanyOverview:
    """The operator's page of one company."""

    eic: str
    name: str
    approval_policy: str
    administrators: list[MemberView]
    connection_points: list[ConnectionPointView]
    users: int

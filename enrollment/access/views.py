"""What the gate tells the front office: the access decision and the holder's services and perimeter."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class GrantedService:
    code: str
    name: str


@dataclass(frozen=True)
class PerimeterPoint:
    code: str
    label: str


@dataclass(frozen=True)
class AccessDecision:
    """What the gate tells the front office (allowed) or the person (refused: `message` + `action`)."""

    allowed: bool
    status: int  # HTTP status: 200, 403 (refused), 404 (no such service)
    code: str  # "ok" or a stable machine code, e.g. "revoked", "expired", "service_not_granted"
    message: str  # what is wrong, in words a person understands
    action: str  # what to do about it
    portal_url: str
    service: str | None = None
    connection_point: str | None = None
    certificate_id: int | None = None
    serial: str | None = None
    issuer: str | None = None
    not_after: datetime | None = None
    user_id: int | None = None
    full_name: str | None = None
    email: str | None = None
    company_id: int | None = None
    company_name: str | None = None
    eic: str | None = None
    services: tuple[GrantedService, ...] = ()
    connection_points: tuple[PerimeterPoint, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["not_after"] = self.not_after.isoformat() if self.not_after else None
        data["services"] = [asdict(s) for s in self.services]
        data["connection_points"] = [asdict(p) for p in self.connection_points]
        data.pop("certificate_id")
        data.pop("user_id")
        data.pop("company_id")
        return data


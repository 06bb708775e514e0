"""Plain views of ledger rows handed to adapters, so no ORM object ever leaves a transaction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class CompanyView:
    eic: str
    name: str
    approval_policy: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = _iso(self.created_at)
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
class CertificateView:
    serial: str
    issuer: str
    status: str
    subject: str
    not_before: datetime
    not_after: datetime
    user: str | None
    company: str | None
    profile: str
    revoked_at: datetime | None
    revocation_reason: str | None
    last_used_at: datetime | None
    sha256: str | None
    der: bytes | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("der")
        for key in ("not_before", "not_after", "revoked_at", "last_used_at"):
            data[key] = _iso(data[key])
        return data


@dataclass(frozen=True)
class IssuerView:
    name: str
    status: str
    subject: str
    not_before: datetime
    not_after: datetime
    sha256: str
    installed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("not_before", "not_after", "installed_at"):
            data[key] = _iso(data[key])
        return data

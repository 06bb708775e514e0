"""Plain views of certificate requests, their outcome, and downloadable files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ca.clock import iso_or_none


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
        data["created_at"] = iso_or_none(self.created_at)
        data["decided_at"] = iso_or_none(self.decided_at)
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


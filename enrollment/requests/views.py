"""Plain views of certificate requests, their outcome, and downloadable files."""

from __future__ import annotations

from dataclasses import dataclass
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
        """The JSON form (field by field: dataclasses.asdict deep-copies every value, ~5 % of a
        `POST /api/v1/requests`, issue 14 §1; every field here is immutable)."""
        return {"id": self.id, "user": self.user, "user_name": self.user_name, "kind": self.kind,
                "status": self.status, "comment": self.comment, "created_at": iso_or_none(self.created_at),
                "decided_at": iso_or_none(self.decided_at), "certificate_serial": self.certificate_serial}


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


"""Reading and checking the audit trail: the chain check for operators, a company's events for its admins."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ca.actor import Actor
from ca.clock import iso_or_none
from ca.errors import BadRequestError
from ca.ledger.audit import list_events, verify_chain
from ca.ledger.models import AuditEvent
from ca.runtime import Runtime
from ca.scope import one_company


@dataclass(frozen=True)
class AuditReport:
    events: int
    head: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_anchor(text: str) -> tuple[int, str]:
    """`ID:HASH`, as printed by a previous `pkictl audit verify`."""
    event_id, _, digest = text.strip().partition(":")
    if not event_id.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BadRequestError(f"invalid anchor {text!r}: expected EVENT_ID:SHA256_HEX as printed by audit verify")
    return int(event_id), digest


def verify_audit_trail(runtime: Runtime, actor: Actor, anchors: Sequence[str] = ()) -> AuditReport:
    actor.require_operator()
    parsed = dict(parse_anchor(a) for a in anchors)
    with runtime.sessionmaker() as session:
        count, head, problems = verify_chain(session, parsed)
    return AuditReport(events=count, head=head, problems=[p.problem for p in problems])


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
    def from_row(cls, row: AuditEvent) -> AuditEventView:
        return cls(id=row.id, at=row.at, actor=row.actor, action=row.action, object_type=row.object_type,
                   object_id=row.object_id, details=json.loads(row.details or "{}"), source_ip=row.source_ip)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = iso_or_none(self.at)
        return data


def company_audit_trail(runtime: Runtime, actor: Actor, *, limit: int = 200,
                        company_eic: str | None = None) -> list[AuditEventView]:
    """Newest first: the events of the administrator's company (an operator names the company)."""
    if not 1 <= limit <= 1000:
        raise BadRequestError("limit must be 1 to 1000")
    with runtime.sessionmaker() as session:
        company_id = one_company(session, actor, company_eic)
        return [AuditEventView.from_row(e) for e in list_events(session, company_id=company_id, limit=limit)]

"""Reading and checking the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from ca.actor import Actor
from ca.errors import BadRequestError
from ca.ledger.audit import verify_chain
from ca.runtime import Runtime


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


def verify_audit_trail(runtime: Runtime, actor: Actor, anchors: list[str] = ()) -> AuditReport:  # type: ignore[assignment]
    actor.require_operator()
    parsed = dict(parse_anchor(a) for a in anchors)
    with runtime.sessionmaker() as session:
        count, head, problems = verify_chain(session, parsed)
    return AuditReport(events=count, head=head, problems=[p.problem for p in problems])

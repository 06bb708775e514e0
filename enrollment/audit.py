"""Reading and checking the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from ca.actor import Actor
from ca.ledger.audit import verify_chain
from ca.runtime import Runtime


@dataclass(frozen=True)
class AuditReport:
    events: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit_trail(runtime: Runtime, actor: Actor) -> AuditReport:
    actor.require_operator()
    with runtime.sessionmaker() as session:
        count, problems = verify_chain(session)
    return AuditReport(events=count, problems=[p.problem for p in problems])

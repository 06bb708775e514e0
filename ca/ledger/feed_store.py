"""The audit trail read as a change feed (DESIGN §5): every event after a cursor, with what it touched.

`store.changes_since` answers the OCSP responder's narrower question (which serials changed status);
this one hands back each event's action, object and company so a subscriber (the front-office gate's
decision cache, ca.change_feed) can tell which of its memories an event may have made wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from ca.ledger import Session
from ca.ledger.models import AuditEvent


@dataclass(frozen=True)
class FeedEvent:
    id: int
    action: str
    object_type: str
    object_id: str
    company_id: int | None


# Built once: each look at the feed (several a second per process) then only binds two numbers; building
# the statement cost more CPU than running it.
_AFTER = (select(AuditEvent.id, AuditEvent.action, AuditEvent.object_type, AuditEvent.object_id,
                 AuditEvent.company_id)
          .where(AuditEvent.id > bindparam("after")).order_by(AuditEvent.id).limit(bindparam("limit")))


def events_since(session: Session, after_event_id: int, limit: int) -> list[FeedEvent]:
    """At most `limit` events with id > `after_event_id`, oldest first (the audit chain's order)."""
    rows = session.execute(_AFTER, {"after": after_event_id, "limit": limit}).all()
    return [FeedEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]

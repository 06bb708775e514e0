"""The audit trail: insert-only (database triggers refuse UPDATE and DELETE) and hash-chained, so that an
edit made behind the application's back is found by `pkictl audit verify` (DESIGN §3, ASVS V16).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ca.ledger.models import AuditEvent

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x5049_4B41  # arbitrary advisory-lock key: serialises chain appends on PostgreSQL


# The canonical form every event hash covers (ASVS V16): the JSON array [id, at, actor, action, company_id,
# object_type, object_id, details, source_ip, prev_hash], compact, non-ASCII kept. One encoder, built once (a
# json.dumps with options builds one per call); a JSON array's text is its elements' texts joined by commas,
# so a writer of many events may encode a value they share once (ca.ledger.issuance_store.append_events).
canonical_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def content_fields(event: AuditEvent) -> tuple[Any, ...]:
    """The values the hash covers before `prev_hash`, in their canonical order."""
    return (event.id, event.at.isoformat(), event.actor, event.action, event.company_id, event.object_type,
            event.object_id, event.details, event.source_ip)


def chain_digest(content_json: Sequence[str], prev_hash: str) -> str:
    """The hash of an event: SHA-256 of the canonical array, given each of `content_fields` as its
    `canonical_json` text (consecutive ones may come already joined by commas), and the previous event's
    hash."""
    canonical = "[" + ",".join(content_json) + "," + canonical_json(prev_hash) + "]"
    return hashlib.sha256(canonical.encode()).hexdigest()


def _digest(event: AuditEvent) -> str:
    return chain_digest([canonical_json(value) for value in content_fields(event)], event.prev_hash)


def append_event(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    company_id: int | None = None,
    details: dict[str, Any] | None = None,
    source_ip: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction; the row id is part of the hash, so ids cannot be swapped."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
    head = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    event = AuditEvent(
        id=(head.id + 1) if head else 1,
        at=at,
        actor=actor,
        action=action,
        company_id=company_id,
        object_type=object_type,
        object_id=str(object_id),
        details=json.dumps(details or {}, sort_keys=True, separators=(",", ":"), default=str),
        source_ip=source_ip,
        prev_hash=head.hash if head else GENESIS,
        hash="",
    )
    event.hash = _digest(event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class AuditProblem:
    event_id: int
    problem: str


def verify_chain(session: Session, anchors: dict[int, str] | None = None) -> tuple[int, str, list[AuditProblem]]:
    """Walk the chain in id order; return the number of events, the head hash and every row that does not fit.

    `anchors` maps event ids to hashes recorded outside the database (a head printed by an earlier verify):
    an attacker who rewrites a row and every hash after it still breaks the anchor.
    """
    problems: list[AuditProblem] = []
    previous = GENESIS
    count = 0
    expected_id = 1
    pending = dict(anchors or {})
    for event in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().yield_per(1000):
        count += 1
        if event.id in pending and pending.pop(event.id) != event.hash:
            problems.append(AuditProblem(event.id, f"event {event.id} differs from its recorded anchor"))
        if event.id != expected_id:
            problems.append(AuditProblem(event.id, f"gap before event {event.id}: event {expected_id} missing"))
        if event.prev_hash != previous:
            problems.append(AuditProblem(event.id, f"event {event.id} does not link to the previous event"))
        if _digest(event) != event.hash:
            problems.append(AuditProblem(event.id, f"event {event.id} was modified (its hash does not match)"))
        previous = event.hash
        expected_id = event.id + 1
    for missing in sorted(pending):
        problems.append(AuditProblem(missing, f"anchored event {missing} is missing: the trail was truncated"))
    return count, previous, problems


def list_events(session: Session, company_id: int | None = None, limit: int = 200) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if company_id is not None:
        query = query.where(AuditEvent.company_id == company_id)
    return list(session.execute(query).scalars())


def count_events(session: Session, *, action: str, object_id: str, since: datetime) -> int:
    """How many `action` events about `object_id` were written since `since` (rate limits kept in the trail)."""
    query = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.object_id == object_id, AuditEvent.at >= since)
    return int(session.execute(query).scalar_one())

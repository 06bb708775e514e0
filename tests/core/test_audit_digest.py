"""The hash of an audit event is the SHA-256 of one canonical JSON array (ca.ledger.audit), whether one event
is appended (append_event) or a batch whose events share values encoded once (issuance_store.append_events):
every ledger already holds hashes of that form, so the bytes hashed must never change."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import select

from ca.ledger import issuance_store
from ca.ledger.audit import GENESIS, _digest, append_event, verify_chain
from ca.ledger.models import AuditEvent

_ODD = [
    "",
    "plain",
    'quote " and \\ backslash',
    "é ü 中文 🎉",
    "tab\tnew\nline\x00nul\x1f",
    "\u2028\u2029",
    "</script>",
]
_STORABLE = [value.replace("\x00", "") for value in _ODD]  # PostgreSQL's text holds no NUL


def reference_hash(event) -> str:
    """The canonical form as the first ledger wrote it: kept here, spelled out, as the compatibility rule."""
    content = [
        event.id,
        event.at.isoformat(),
        event.actor,
        event.action,
        event.company_id,
        event.object_type,
        event.object_id,
        event.details,
        event.source_ip,
        event.prev_hash,
    ]
    return hashlib.sha256(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def test_the_digest_is_the_canonical_array_for_odd_values():
    rng = random.Random(14)
    for index in range(500):
        event = SimpleNamespace(
            id=rng.randrange(1, 10**12),
            at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(microseconds=index * 7919),
            actor=rng.choice(_ODD),
            action=rng.choice(_ODD),
            company_id=rng.choice([None, 0, 1, 2**40]),
            object_type=rng.choice(_ODD),
            object_id=rng.choice(_ODD),
            details=json.dumps({"k": rng.choice(_ODD)}, ensure_ascii=False),
            source_ip=rng.choice([None, "::1"]),
            prev_hash=rng.choice([GENESIS, hashlib.sha256(bytes([index % 256])).hexdigest()]),
        )
        assert _digest(event) == reference_hash(event)


def test_a_batch_chains_as_events_appended_one_by_one(runtime):
    now = runtime.clock.now()
    shared = {"issuer": "demo", "subject": 'CN=Zoë "Z" Ümlaut,O=Demo', "user": None}
    events = [
        {
            "at": now if index % 3 else now + timedelta(seconds=index),
            "actor": _STORABLE[index % len(_ODD)] or "op",
            "action": "certificate.issued",
            "object_type": "certificate",
            "object_id": f"{index:040x}",
            "company_id": None if index % 4 == 0 else index % 3,
            "source_ip": None if index % 2 else "10.0.0.1",
            "details": shared if index % 5 else {"serial": _STORABLE[index % len(_ODD)], "n": index},
        }
        for index in range(60)
    ]
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=now, actor="op", action="before", object_type="test", object_id="1")
        issuance_store.append_events(session, events[:30])
        append_event(session, at=now, actor="op", action="between", object_type="test", object_id="2")
        issuance_store.append_events(session, events[30:])
    with runtime.sessionmaker() as session:
        count, _head, problems = verify_chain(session)
        rows = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    assert problems == [] and count == len(rows)
    assert all(row.hash == reference_hash(row) for row in rows)
    batch = [row for row in rows if row.action == "certificate.issued"]
    assert [row.object_id for row in batch] == [event["object_id"] for event in events]
    assert [json.loads(row.details) for row in batch] == [event["details"] for event in events]

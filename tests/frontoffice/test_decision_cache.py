"""The gate's decision cache (issue 14 item 2): a decision is held until the change feed shows a change
that may alter it — revocation, the holder detached, a service removed from the group — and each of those
is refused within one second; unrelated changes keep it; the certificate's end and the size bound hold."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from ca.clock import FixedClock
from ca.ledger.feed_store import FeedEvent
from ca.revoke import revoke_certificate
from enrollment.access.decision_cache import DecisionCache
from enrollment.access.gatekeeper import Gatekeeper
from enrollment.access.views import AccessDecision
from enrollment.accounts.members import detach_user
from enrollment.groups import groups
from tests.frontoffice.conftest import make_runtime
from tests.frontoffice.world import OPERATOR, World, build_world
from tests.support.pki import SessionPKI

BOUND_MS = 400


@pytest.fixture
def cached(environ: dict[str, str], clock: FixedClock, session_pki: SessionPKI,
           tmp_path: Path) -> Iterator[tuple[World, Gatekeeper, list[str]]]:
    """A world whose gate holds decisions (bound 400 ms), and the SQL statements it sends on the certificate
    and user tables (what a cache hit must not send)."""
    runtime = make_runtime(environ, clock, decision_cache_ms=str(BOUND_MS))
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        text = statement.lower()
        if "from certificates" in text or "from users" in text:
            statements.append(statement)

    try:
        world = build_world(runtime, session_pki, tmp_path / "certs")
        event.listen(runtime.engine, "before_cursor_execute", count)
        yield world, Gatekeeper(runtime), statements
    finally:
        runtime.close()


def _refused_within_a_second(keeper: Gatekeeper, der: bytes, service: str | None, codes: set[str]) -> float:
    changed = time.monotonic()
    while True:
        decision = keeper.decide(certificate_der=der, service=service)
        elapsed = time.monotonic() - changed
        if not decision.allowed:
            assert decision.code in codes, decision.message
            assert elapsed < 1.0
            return elapsed
        assert elapsed < 1.0, "a held decision outlived the change"
        time.sleep(0.01)


def test_a_seen_certificate_is_let_in_without_reading_the_ledger(cached):
    world, keeper, statements = cached
    bob = world.issue("bob", "bob@example.com")
    assert keeper.decide(certificate_der=bob.der, service="markets").allowed
    read = len(statements)
    assert read > 0  # the first decision read the ledger
    for _ in range(50):
        assert keeper.decide(certificate_der=bob.der, service="markets").allowed
        time.sleep(0.01)  # across several looks at the change feed (every 200 ms)
    assert len(statements) == read


def test_revocation_drops_the_decision(cached):
    world, keeper, _ = cached
    bob = world.issue("bob", "bob@example.com")
    assert keeper.decide(certificate_der=bob.der, service="markets").allowed
    time.sleep(0.2)  # held past the refusal lifetime's start: only the feed can drop it now
    revoke_certificate(world.runtime, OPERATOR, serial=bob.serial, reason="keyCompromise")
    _refused_within_a_second(keeper, bob.der, "markets", {"revoked"})


def test_user_detached_drops_the_decision(cached):
    world, keeper, _ = cached
    bob = world.issue("bob", "bob@example.com")
    assert keeper.decide(certificate_der=bob.der, service=None).allowed
    detach_user(world.runtime, world.admin(), user_id=world.user_ids["bob@example.com"])
    _refused_within_a_second(keeper, bob.der, None, {"revoked", "detached"})


def test_service_removed_from_the_group_drops_the_decision(cached):
    world, keeper, _ = cached
    bob = world.issue("bob", "bob@example.com")
    home = keeper.decide(certificate_der=bob.der, service=None)
    assert "markets" in {s.code for s in home.services}
    assert keeper.decide(certificate_der=bob.der, service="markets").allowed
    traders = next(g for g in groups.groups_page(world.runtime, world.admin()).groups if g.name == "Traders")
    groups.update_group(world.runtime, world.admin(), group_id=traders.id, service_codes=["capacity-auctions"])
    _refused_within_a_second(keeper, bob.der, "markets", {"service_not_granted"})
    assert "markets" not in {s.code for s in keeper.decide(certificate_der=bob.der, service=None).services}


def test_unrelated_changes_keep_the_decision(cached):
    world, keeper, statements = cached
    bob, unknown = world.issue("bob", "bob@example.com"), world.forge("unknown")
    assert keeper.decide(certificate_der=bob.der, service=None).allowed
    read = len(statements)
    world.issue("grace", "grace@example.com")  # certificate.issued for someone else
    assert not keeper.decide(certificate_der=unknown.der, service=None).allowed  # a gate.refused event
    statements.clear()
    time.sleep(0.5)  # the feed has shown both events (a look every 200 ms)
    assert keeper.decide(certificate_der=bob.der, service=None).allowed
    assert statements == [] and read > 0


def test_a_held_decision_ends_with_the_certificate(cached, clock):
    world, keeper, _ = cached
    bob = world.issue("bob", "bob@example.com")
    decision = keeper.decide(certificate_der=bob.der, service=None)
    assert decision.allowed and decision.not_after is not None
    clock.set(decision.not_after + timedelta(seconds=1))
    assert keeper.decide(certificate_der=bob.der, service=None).code == "expired"


def test_the_cache_is_bounded_and_refuses_silly_bounds(cached):
    world, _, _ = cached
    keeper = Gatekeeper(world.runtime, max_entries=2)
    holders = [world.issue(f"p{i}", "bob@example.com") for i in range(4)]
    for holder in holders:
        assert keeper.decide(certificate_der=holder.der, service=None).allowed
    assert keeper.decisions is not None and len(keeper.decisions) == 2
    with pytest.raises(ValueError):
        DecisionCache(world.runtime, 10, 1.5)


def _decision(**facts: object) -> AccessDecision:
    return AccessDecision(allowed=True, status=200, code="ok", message="", action="", portal_url="",
                          **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(("feed_event", "dropped"), [
    (FeedEvent(1, "certificate.revoked", "certificate", "0A", 7), {"bob-a"}),
    (FeedEvent(1, "user.detached", "user", "bob@example.com", 7), {"bob-a", "bob-b"}),
    (FeedEvent(1, "group.updated", "group", "3", 7), {"bob-a", "bob-b", "eve"}),
    (FeedEvent(1, "issuer.retired", "issuer", "sub", None), {"bob-a", "bob-b", "eve", "zoe"}),
    (FeedEvent(1, "gate.refused", "certificate", "0A", 7), set()),
    (FeedEvent(1, "user.logged_in", "user", "bob@example.com", 7), set()),
])
def test_which_events_drop_which_decisions(cached, feed_event, dropped):
    world, _, _ = cached
    cache = DecisionCache(world.runtime, 10, 1.0)
    cache.feed.poll()  # the first look: the cursor is set, entries may be stored
    held = {"bob-a": _decision(serial="0A", email="bob@example.com", user_id=2, company_id=7),
            "bob-b": _decision(serial="0B", email="bob@example.com", user_id=2, company_id=7),
            "eve": _decision(serial="0C", email="eve@example.com", user_id=3, company_id=7),
            "zoe": _decision(serial="0D", email="zoe@example.com", user_id=4, company_id=8)}
    for name, decision in held.items():
        cache.put((name, None, None), decision, cache.generation)
    cache._apply([feed_event])
    kept = {name for name in held if cache.get((name, None, None)) is not None}
    assert kept == set(held) - dropped

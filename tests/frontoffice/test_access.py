"""The access decision (enrollment.access) against a real ledger, on each backend, at FixedClock instants."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import event, select

from ca.issuer import key_path
from ca.keys.filekey import load_private_key
from ca.ledger.models import AuditEvent, CertificateRecord, IssuerRecord
from ca.revoke import revoke_certificate
from ca.runtime import Runtime
from ca.x509.reasons import REASON_CODES
from enrollment.access.gatekeeper import Gatekeeper
from enrollment.access.views import AccessDecision
from tests.frontoffice.conftest import make_runtime
from tests.frontoffice.world import OPERATOR, World, build_world
from tests.support.ledger import snapshot
from tests.support.pki import PASSPHRASE

_GATEKEEPERS: dict[int, tuple[Runtime, Gatekeeper]] = {}


def _keeper(runtime: Runtime) -> Gatekeeper:
    """One Gatekeeper per runtime, as one front-office application holds one."""
    entry = _GATEKEEPERS.get(id(runtime))
    if entry is None or entry[0] is not runtime:
        entry = _GATEKEEPERS[id(runtime)] = (runtime, Gatekeeper(runtime))
    return entry[1]


def _decide(world: World, der: bytes, service: str | None = None, point: str | None = None,
            **kwargs: object) -> AccessDecision:
    return _keeper(world.runtime).decide(certificate_der=der, service=service, connection_point=point,
                                         **kwargs)  # type: ignore[arg-type]


def _events(world: World, action: str = "gate.refused") -> list[AuditEvent]:
    with world.runtime.sessionmaker() as session:
        return list(session.execute(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)).scalars())


def _refused(world: World, der: bytes, code: str, service: str | None = None, point: str | None = None,
             status: int = 403, **kwargs: object) -> AccessDecision:
    """Refused with `code`, one gate.refused event saying why, and nothing else changed in the ledger."""
    before = snapshot(world.runtime)
    decision = _decide(world, der, service, point, **kwargs)
    assert (decision.allowed, decision.code, decision.status) == (False, code, status), decision.message
    after = snapshot(world.runtime)
    assert after == {**before, "audit_events": before["audit_events"] + 1}
    last = _events(world)[-1]
    assert last.actor == "gate" and json.loads(last.details)["reason"] == code
    assert decision.message and decision.action
    return decision


# --- allowed -------------------------------------------------------------------------------------------
def test_home_page_shows_who_and_services(world):
    bob = world.issue("bob", "bob@example.com")
    decision = _decide(world, bob.der)
    assert decision.allowed and decision.status == 200
    assert (decision.full_name, decision.email, decision.company_name, decision.eic) == (
        "Bob Trader", "bob@example.com", "Demo Producer", "10XDEMO-PRODUCE2")
    assert [s.code for s in decision.services] == ["capacity-auctions", "markets"]
    assert decision.connection_points == ()  # the home page needs no perimeter


def test_service_page_passes_only_the_perimeter_of_the_granting_groups(world):
    alice = world.issue("alice", "alice@example.com")
    markets = _decide(world, alice.der, "markets")
    assert markets.allowed and [p.code for p in markets.connection_points] == ["PDL-001", "PDL-002"]
    metering = _decide(world, alice.der, "metering")
    assert metering.allowed and [(p.code, p.label) for p in metering.connection_points] == [
        ("PDL-003", "Compteur Est")]
    assert [s.code for s in metering.services] == ["capacity-auctions", "markets", "metering"]
    assert _decide(world, alice.der, "metering", "PDL-003").allowed


def test_user_in_no_group_sees_home_without_services(world):
    carol = world.issue("carol", "carol@example.com")
    decision = _decide(world, carol.der)
    assert decision.allowed and decision.services == ()
    _refused(world, carol.der, "service_not_granted", "markets")


def test_certificate_of_a_retired_issuer_still_valid_is_accepted(world, session_pki, tmp_path):
    bob = world.issue("bob", "bob@example.com")
    with world.runtime.sessionmaker.begin() as session:
        session.execute(select(IssuerRecord)).scalar_one().status = "retired"
    assert _decide(world, bob.der, "markets").allowed


# --- refused, with the audit event -----------------------------------------------------------------------
@pytest.mark.parametrize("reason", sorted(REASON_CODES))
def test_revoked_for_each_reason(world, reason):
    grace = world.issue("grace", "grace@example.com")
    revoke_certificate(world.runtime, OPERATOR, serial=grace.serial, reason=reason)
    decision = _refused(world, grace.der, "revoked")
    assert "revoked on 2026-01-06 09:00 UTC" in decision.message
    assert world.runtime.settings.portal.base_url in decision.action


def test_expired_and_not_yet_valid_follow_the_clock(world, clock):
    bob = world.issue("bob", "bob@example.com")
    clock.advance(timedelta(days=366))
    assert "expired on 2027-01-06 09:00 UTC" in _refused(world, bob.der, "expired").message
    clock.advance(timedelta(days=-367))
    _refused(world, bob.der, "not_yet_valid")


def test_unknown_serial_and_a_certificate_that_is_not_the_recorded_one(world):
    _refused(world, world.forge("unknown").der, "unknown_certificate")
    bob = world.issue("bob", "bob@example.com")
    twin = world.forge("twin", serial_number=bob.certificate.serial_number)  # same serial, other bytes
    _refused(world, twin.der, "unknown_certificate")
    pending = world.forge("pending")
    world.record(pending, status="pending")
    _refused(world, pending.der, "unknown_certificate")


def test_foreign_and_self_signed_certificates(world, foreign_pki):
    foreign_key = load_private_key(key_path(foreign_pki.key_dir, foreign_pki.issuer_name), PASSPHRASE)
    foreign = world.forge("foreign", issuer=foreign_pki.issuer, issuer_key=foreign_key)  # same names, other keys
    _refused(world, foreign.der, "unknown_issuer")
    _refused(world, world.forge("self", self_signed=True).der, "unknown_issuer")


def test_wrong_usages(world):
    server_eku = world.forge("server-eku", eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    world.record(server_eku)
    assert "client authentication" in _refused(world, server_eku.der, "wrong_usage").message
    no_eku = world.forge("no-eku", eku=None)
    world.record(no_eku)
    _refused(world, no_eku.der, "wrong_usage")
    ca_leaf = world.forge("ca-leaf", ca=True)
    world.record(ca_leaf)
    assert "certification authority" in _refused(world, ca_leaf.der, "wrong_usage").message
    other_profile = world.forge("server-profile")
    world.record(other_profile, profile="tls-server", email=None)
    _refused(world, other_profile.der, "wrong_usage")


def test_holder_problems(world):
    holders = {name: world.issue(name, f"{name}@example.com") for name in ("dave", "erin", "heidi")}
    world.set_user("dave@example.com", status="deactivated")
    assert "deactivated" in _refused(world, holders["dave"].der, "account_inactive").message
    world.set_user("heidi@example.com", status="pending")
    _refused(world, holders["heidi"].der, "account_inactive")
    world.set_user("erin@example.com", company_id=world.other_company_id())
    _refused(world, holders["erin"].der, "detached")
    world.set_user("erin@example.com", company_id=None)
    _refused(world, holders["erin"].der, "detached", "markets")
    orphan = world.forge("orphan")
    world.record(orphan, email=None)
    _refused(world, orphan.der, "no_holder")


def test_services_and_perimeter(world):
    bob = world.issue("bob", "bob@example.com")
    frank = world.issue("frank", "frank@example.com")
    _refused(world, bob.der, "service_not_granted", "metering")
    _refused(world, frank.der, "service_not_granted", "markets")  # in a group without the service
    _refused(world, bob.der, "unknown_service", "nope", status=404)
    decision = _refused(world, bob.der, "outside_perimeter", "markets", "PDL-003")
    assert [p.code for p in decision.connection_points] == ["PDL-001", "PDL-002"]


def test_no_unreadable_and_unverified_certificates(world):
    _refused(world, b"", "no_certificate", source_ip="192.0.2.7")
    _refused(world, b"\x30\x03\x02\x01\x00", "bad_certificate")
    bob = world.issue("bob", "bob@example.com")
    _refused(world, bob.der, "certificate_not_trusted", tls_error="unable to get issuer certificate")
    assert json.loads(_events(world)[-1].details)["tls_error"] == "unable to get issuer certificate"


def test_removed_issuer(world):
    bob = world.issue("bob", "bob@example.com")
    with world.runtime.sessionmaker.begin() as session:
        session.execute(select(IssuerRecord)).scalar_one().status = "removed"
    _refused(world, bob.der, "issuer_removed")


# --- audit throttling, cache, last use ---------------------------------------------------------------------
def test_identical_refusals_are_throttled_and_counted(environ, clock, session_pki, tmp_path):
    runtime = make_runtime(environ, clock, decision_cache_ms="0", refusal_audit_interval_seconds="1")
    try:
        world = build_world(runtime, session_pki, tmp_path / "certs")
        unknown = world.forge("unknown").der
        for _ in range(5):
            assert not _decide(world, unknown).allowed
        _decide(world, unknown, "markets")  # another page: its own event
        assert [json.loads(e.details).get("service") for e in _events(world)] == [None, "markets"]
        time.sleep(1.05)
        _decide(world, unknown)
        events = _events(world)
        assert len(events) == 3 and json.loads(events[-1].details)["repeated"] == 4
    finally:
        runtime.close()


def test_decisions_are_cached_at_most_the_configured_time(environ, clock, session_pki, tmp_path):
    runtime = make_runtime(environ, clock, decision_cache_ms="300")
    try:
        world = build_world(runtime, session_pki, tmp_path / "certs")
        bob = world.issue("bob", "bob@example.com")
        assert _decide(world, bob.der).allowed
        revoke_certificate(runtime, OPERATOR, serial=bob.serial, reason="superseded")
        revoked_at = time.monotonic()
        while _decide(world, bob.der).allowed:  # the entry was cached before the revocation: < 300 ms left
            assert time.monotonic() - revoked_at < 1.0, "a cached decision outlived the cache"
            time.sleep(0.01)
        assert time.monotonic() - revoked_at <= 0.6  # 300 ms plus one ledger read on a loaded machine
    finally:
        runtime.close()


def test_last_used_at_is_written_once_per_interval(environ, clock, session_pki, tmp_path):
    runtime = make_runtime(environ, clock, decision_cache_ms="0", last_use_interval_seconds="3600")
    other = make_runtime(environ, clock, decision_cache_ms="0", last_use_interval_seconds="3600")  # a 2nd worker
    writes: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if statement.lstrip().upper().startswith("UPDATE CERTIFICATES SET LAST_USED_AT"):
            writes.append(statement)

    try:
        world = build_world(runtime, session_pki, tmp_path / "certs")
        bob = world.issue("bob", "bob@example.com")
        for engine in (runtime.engine, other.engine):
            event.listen(engine, "before_cursor_execute", count)

        def use(rt=runtime) -> bool:
            decision = _keeper(rt).decide(certificate_der=bob.der, service=None)
            return _keeper(rt).record_last_use(decision)

        def last_used():
            with runtime.sessionmaker() as session:
                return session.execute(select(CertificateRecord.last_used_at).where(
                    CertificateRecord.serial == bob.serial)).scalar_one()

        assert last_used() is None
        assert [use() for _ in range(5)] == [True, False, False, False, False]
        assert len(writes) == 1 and last_used() == clock.now()
        first = clock.now()
        assert use(other) is False and len(writes) == 2  # the other process asks once, changes nothing
        assert last_used() == first
        clock.advance(timedelta(seconds=3599))
        assert use() is False and use(other) is False and len(writes) == 2 and last_used() == first
        clock.advance(timedelta(seconds=2))
        assert use() is True and last_used() == clock.now() and len(writes) == 3
        refused = _keeper(runtime).decide(certificate_der=b"", service=None)
        assert _keeper(runtime).record_last_use(refused) is False and len(writes) == 3
    finally:
        other.close()
        runtime.close()


def test_decision_serialises_for_json(world):
    bob = world.issue("bob", "bob@example.com")
    data = _decide(world, bob.der, "markets").to_dict()
    assert data["full_name"] == "Bob Trader" and data["services"][1]["code"] == "markets"
    assert data["connection_points"] == [{"code": "PDL-001", "label": "Poste Nord"},
                                         {"code": "PDL-002", "label": "Poste Sud"}]
    assert "user_id" not in data and bob.certificate.public_bytes(serialization.Encoding.DER)

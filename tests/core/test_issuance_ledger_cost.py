"""The ledger side of the issuance fast path (issue 14 §1), on SQLite and PostgreSQL: the reads before the
intent take no write lock and cache nothing, and the group committer's optimistic batch (no SAVEPOINTs)
still leaves a failing unit out alone."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from ca import issuance
from ca.errors import BadCSRError, BadRequestError, ConflictError
from ca.ledger.group_commit import GroupCommitter
from ca.ledger.issuance_reads import read_issuance_facts
from tests.conftest import EIC
from tests.vectors.bad_csrs import good_csr

USER = "alice@example.com"
_INSERT_KEY = text("INSERT INTO blocked_keys (spki_sha256, reason, blocked_at) "
                   "VALUES (:k, 'test', CURRENT_TIMESTAMP)")


def _keys(runtime) -> set[str]:
    with runtime.sessionmaker() as session:
        return set(session.execute(text("SELECT spki_sha256 FROM blocked_keys")).scalars())


def test_the_reads_before_the_intent_do_not_wait_for_a_writer(runtime, session_pki):
    """A writer holds its transaction open (on SQLite: the write lock, BEGIN IMMEDIATE); the issuance reads
    answer at once instead of waiting for it (the busy timeout is 5 s)."""
    _key, csr = good_csr("ec-p256")
    checked = issuance.checked_csr(csr)
    with runtime.engine.connect() as writer:
        writer.execute(_INSERT_KEY, {"k": checked.spki_sha256})  # begins the writer's transaction
        started = time.perf_counter()
        facts = read_issuance_facts(runtime.engine, user_email=USER.upper(), spki_sha256=checked.spki_sha256,
                                    issuer_name=None)
        elapsed = time.perf_counter() - started
        writer.rollback()
    assert elapsed < 1.0
    assert facts.user is not None and facts.user.email == USER and facts.company is not None
    assert facts.company.eic == EIC and facts.company.id == facts.user.company_id
    assert facts.issuer.name == session_pki.issuer_name and facts.issuer.status == "active"
    assert facts.key_blocked is False  # the writer's row is not committed: not seen


def test_what_changes_between_two_issuances_is_seen_by_the_second(runtime, operator):
    """Nothing read before the intent is cached: a key blocked or a user deactivated right after an issuance
    refuses the next one."""
    _key, csr = good_csr("ec-p256")
    issuance.issue_certificate(runtime, operator, csr_data=csr, user_email=USER)
    with runtime.sessionmaker.begin() as session:
        session.execute(_INSERT_KEY, {"k": issuance.checked_csr(csr).spki_sha256})
    with pytest.raises(BadCSRError, match="blocked"):
        issuance.issue_certificate(runtime, operator, csr_data=csr, user_email=USER)
    _key, other = good_csr("ec-p256")
    with runtime.sessionmaker.begin() as session:
        session.execute(text("UPDATE users SET status = 'deactivated' WHERE email = :e"), {"e": USER})
    with pytest.raises(BadRequestError, match="not active"):
        issuance.issue_certificate(runtime, operator, csr_data=other, user_email=USER)


def test_a_lone_failing_unit_leaves_nothing(runtime):
    """Without a SAVEPOINT, a failing lone unit rolls back its whole transaction: its first write is gone."""
    committer = GroupCommitter(runtime.sessionmaker)

    def work(session):
        session.execute(_INSERT_KEY, {"k": "a" * 64})
        raise ConflictError("refused after a write")

    with pytest.raises(ConflictError, match="refused after a write"):
        committer.run(work)
    assert _keys(runtime) == set()
    assert committer.run(lambda session: session.execute(_INSERT_KEY, {"k": "b" * 64}).rowcount) == 1
    assert _keys(runtime) == {"b" * 64}


def test_a_failing_unit_of_a_batch_is_replayed_out_alone(runtime):
    """The first unit holds the leader until two more are queued behind it; those two form one batch, whose
    optimistic pass fails on the second and is replayed with SAVEPOINTs: the good one is committed, the bad
    one gets its own error and leaves nothing."""
    committer = GroupCommitter(runtime.sessionmaker)
    release = threading.Event()
    outcomes: dict[str, object] = {}

    def write(name: str, *, fail: bool = False, hold: bool = False) -> None:
        def work(session):
            session.execute(_INSERT_KEY, {"k": name})
            if hold:
                release.wait(10)
            if fail:
                raise ConflictError(f"{name} refused")
            return name

        try:
            outcomes[name] = committer.run(work)
        except ConflictError as error:
            outcomes[name] = error

    first = threading.Thread(target=write, args=("1" * 64,), kwargs={"hold": True})
    first.start()
    deadline = time.monotonic() + 10
    while not committer._combiner.leading and time.monotonic() < deadline:  # noqa: SLF001 - the test's own
        time.sleep(0.01)
    others = [threading.Thread(target=write, args=("2" * 64,)),
              threading.Thread(target=write, args=("3" * 64,), kwargs={"fail": True})]
    for thread in others:
        thread.start()
    while committer._combiner.queued() < 2 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    release.set()
    for thread in (first, *others):
        thread.join()
    assert committer.batches == 2 and committer.units == 3
    assert outcomes["1" * 64] == "1" * 64 and outcomes["2" * 64] == "2" * 64
    assert isinstance(outcomes["3" * 64], ConflictError)
    assert _keys(runtime) == {"1" * 64, "2" * 64}


def test_concurrent_request_issuances_keep_the_audit_chain_and_the_requests(runtime, operator):
    """The `auto` policy's request rows and their events ride in the shared commits (Core statements beside
    the ORM's): every request ends `issued` with its certificate, and the audit chain verifies."""
    from ca.audit_trail import verify_audit_trail
    from ca.issuance import ForRequest
    from ca.ledger import store

    with runtime.sessionmaker() as session:
        company_id = store.get_company_by_eic(session, EIC).id
    csrs = [good_csr("ec-p256")[1] for _ in range(4)]
    issued: list[issuance.IssuedCertificate] = []
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(4):
                issued.append(issuance.issue_certificate(runtime, operator, csr_data=csrs[(index + n) % 4],
                                                         user_email=USER, request=ForRequest(company_id)))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(issued) == 24
    with runtime.sessionmaker() as session:
        rows = session.execute(text("SELECT r.id, r.status, r.decided_at IS NOT NULL, c.serial FROM "
                                    "certificate_requests r JOIN certificates c ON c.request_id = r.id")).all()
        actions = dict(session.execute(text("SELECT action, count(*) FROM audit_events WHERE action IN "
                                            "('request.created', 'request.issued', 'certificate.issued') "
                                            "GROUP BY action")).all())
    assert sorted((r[0], r[3]) for r in rows) == sorted((i.request_id, i.serial) for i in issued)
    assert {(r[1], bool(r[2])) for r in rows} == {("issued", True)}  # decided when recorded (auto)
    assert actions == {"request.created": 24, "request.issued": 24, "certificate.issued": 24}
    report = verify_audit_trail(runtime, operator)
    assert report.problems == []

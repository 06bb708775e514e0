"""Signing processes for batch issuance (issue 14 §1, ca.signing_pool), with real worker processes, the
session's real encrypted issuer key and real signals: the certificates of a pooled `issue_many` keep every
guarantee of the in-thread path (pkilint, `openssl verify`, the ledger row and the audit chain), each bad CSR
is refused alone with the in-thread message, a worker killed with SIGKILL in the middle of a batch makes the
call raise with nothing returned and its intents left pending (closed out by the ledger check), and the next
batch is served by a replacement."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, text

from ca import issuance, signing_pool
from ca.actor import Actor
from ca.audit_trail import verify_audit_trail
from ca.consistency import check_ledger
from ca.errors import BadCSRError, BadRequestError, PKIError
from ca.fast_issuance import FAST_PATH, issuer_spki
from ca.issuer import create_issuer_key
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from ca.x509.csr import checked_csr
from ca.x509.lint import lint_certificate
from ca.x509.names import parse_dn
from tests.support.pki import PASSPHRASE
from tests.support.tools import require_tool
from tests.vectors.bad_csrs import build_bad_csrs, good_csr

ALICE = "alice@example.com"
PROCESSES = 2


@pytest.fixture
def pooled(runtime: Runtime, environ: dict[str, str], clock) -> Iterator[Runtime]:
    """A runtime over `runtime`'s ledger (issuer installed, Alice's company) with two signing processes."""
    pooled = build_runtime(load_settings(None, {**environ, "PKI_CA__SIGNING_PROCESSES": str(PROCESSES)}), clock)
    yield pooled
    signing_pool.release(pooled)
    pooled.close()


def _statuses(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(text("SELECT status, count(*) FROM certificates GROUP BY status")).all())
    finally:
        engine.dispose()


def _rows(database_url: str) -> dict[str, tuple[str, bytes | None]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT serial, status, der FROM certificates")).all()
            return {row[0]: (row[1], bytes(row[2]) if row[2] is not None else None) for row in rows}
    finally:
        engine.dispose()


def _pool(runtime: Runtime) -> signing_pool.SigningPool:
    pool = signing_pool.pool_of(runtime)
    assert pool is not None, "issue_many did not use the signing processes"
    return pool


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"


def test_pooled_certificates_keep_every_guarantee(pooled, operator, session_pki, database_url, tmp_path: Path):
    openssl = require_tool("openssl")
    template_before = FAST_PATH.labels("template")._value.get()
    requests, keys = [], []
    for i in range(45):
        key_type = ("ec-p256", "ec-p384", "rsa-2048")[i % 3]
        key, csr = good_csr(key_type)
        keys.append(key)
        profile = ("browser", "tls-server", "ocsp-responder")[(i // 3) % 3]
        if profile == "browser":
            requests.append(issuance.IssueRequest(csr_data=csr, user_email=ALICE))
        elif profile == "tls-server":
            requests.append(issuance.IssueRequest(csr_data=csr, user_email=None, profile_name=profile,
                                                  dns_names=(f"host-{i}.example.test", "192.0.2.7")))
        else:
            requests.append(issuance.IssueRequest(csr_data=csr, user_email=None, profile_name=profile))

    results = issuance.issue_many(pooled, operator, requests)

    assert all(isinstance(result, issuance.IssuedCertificate) for result in results), results
    issued = [result for result in results if isinstance(result, issuance.IssuedCertificate)]
    assert FAST_PATH.labels("template")._value.get() - template_before == len(issued)
    assert len(_pool(pooled).worker_pids()) == PROCESSES
    rows = _rows(database_url)
    paths = []
    for i, (key, one) in enumerate(zip(keys, issued, strict=True)):
        assert one.certificate.public_key() == key.public_key()  # the CSR's key, proven by its signature
        one.certificate.verify_directly_issued_by(session_pki.issuer)
        assert lint_certificate(one.certificate) == [], one.certificate.subject
        assert rows[one.serial] == ("issued", one.certificate.public_bytes(Encoding.DER))
        path = tmp_path / f"leaf-{i}.pem"
        path.write_bytes(one.pem)
        paths.append(str(path))
    at = str(int(pooled.clock.now().timestamp()) + 60)  # the test clock is fixed in the past
    result = subprocess.run([openssl, "verify", "-x509_strict", "-attime", at, "-CAfile", str(session_pki.root_pem),
                             "-untrusted", str(session_pki.issuer_pem), *paths],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verify_audit_trail(pooled, operator).ok


def test_concurrent_callers_share_the_workers(pooled, operator, database_url):
    """Four callers at once: every chunk goes to a free or the least-loaded worker and comes back to its own
    call — each caller gets its own certificates, each committed with its DER."""
    batches = [[_batch(2 * signing_pool.CHUNK + 5) for _ in range(2)] for _caller in range(4)]
    outcomes: list[list[object]] = [[] for _ in batches]

    def caller(index: int) -> None:
        for batch in batches[index]:
            outcomes[index].append(_call(pooled, operator, batch))

    threads = [threading.Thread(target=caller, args=(index,)) for index in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    rows = _rows(database_url)
    for caller_batches, caller_outcomes in zip(batches, outcomes, strict=True):
        assert len(caller_outcomes) == len(caller_batches)
        for batch, results in zip(caller_batches, caller_outcomes, strict=True):
            assert isinstance(results, list) and len(results) == len(batch), results
            for request, result in zip(batch, results, strict=True):
                assert isinstance(result, issuance.IssuedCertificate), result
                csr = x509.load_pem_x509_csr(request.csr_data)  # type: ignore[arg-type]
                assert result.certificate.public_key() == csr.public_key()  # its own request's certificate
                assert rows[result.serial] == ("issued", result.certificate.public_bytes(Encoding.DER))
    assert len(_pool(pooled).worker_pids()) == PROCESSES


def test_each_bad_csr_of_a_pooled_batch_is_refused_alone_with_the_in_thread_message(pooled, operator,
                                                                                  database_url):
    bad = build_bad_csrs()  # proof of possession, key types, sizes, weak keys, not a CSR, too large...
    requests = []
    for data in bad.values():
        requests.append(issuance.IssueRequest(csr_data=data, user_email=ALICE))
        requests.append(issuance.IssueRequest(csr_data=good_csr("ec-p256")[1], user_email=ALICE))
    before = set(_rows(database_url))

    results = issuance.issue_many(pooled, operator, requests)

    for index, (name, data) in enumerate(bad.items()):
        refusal = results[2 * index]
        with pytest.raises(BadCSRError) as in_thread:
            checked_csr(data)
        assert isinstance(refusal, BadCSRError), (name, refusal)
        assert str(refusal) == str(in_thread.value), name
        assert isinstance(results[2 * index + 1], issuance.IssuedCertificate), name
    issued = {result.serial for result in results if isinstance(result, issuance.IssuedCertificate)}
    assert set(_rows(database_url)) - before == issued  # a refused CSR left no row
    assert verify_audit_trail(pooled, operator).ok


def test_a_worker_killed_in_the_middle_of_a_batch_fails_the_call_and_leaves_its_intents_pending(
        pooled, operator, database_url):
    issuance.issue_many(pooled, operator, _batch(2 * signing_pool.CHUNK))  # both workers are up
    pool = _pool(pooled)
    pids = pool.worker_pids()
    assert len(pids) == PROCESSES
    # CSRs checked beforehand: the batch's only work for the workers is signing. Stopped, they sign nothing
    # until the drill has seen the intents committed; then one is killed and the other resumes.
    requests = [issuance.IssueRequest(csr_data=checked_csr(good_csr("ec-p256")[1]), user_email=ALICE)
                for _ in range(4 * signing_pool.CHUNK)]
    before = _statuses(database_url)
    outcome: list[object] = []
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        caller = threading.Thread(target=lambda: outcome.append(_call(pooled, operator, requests)))
        caller.start()
        deadline = time.monotonic() + 60
        while _statuses(database_url).get("pending", 0) - before.get("pending", 0) < len(requests):
            assert time.monotonic() < deadline, "the intents were never committed"
            assert caller.is_alive(), outcome
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)
    finally:
        for pid in pids[1:]:
            os.kill(pid, signal.SIGCONT)
    caller.join(timeout=60)
    assert not caller.is_alive()

    (error,) = outcome
    assert isinstance(error, signing_pool.WorkerLostError), error
    assert f"signing process {pids[0]} died (signal 9)" in str(error)
    assert f"its {len(requests)} intents stay pending" in str(error)
    after = _statuses(database_url)
    assert after.get("pending", 0) - before.get("pending", 0) == len(requests)  # nothing of it was issued
    assert after.get("issued", 0) == before.get("issued", 0)

    # The next batch is served, by a replacement of the killed worker.
    results = issuance.issue_many(pooled, operator, _batch(3 * signing_pool.CHUNK))
    assert all(isinstance(result, issuance.IssuedCertificate) for result in results)
    now_pids = pool.worker_pids()
    assert pids[0] not in now_pids and pids[1] in now_pids and len(now_pids) == PROCESSES
    assert not _alive(pids[0])

    # The ledger check lists the intents the kill left and closes them out.
    report = check_ledger(pooled, operator, older_than=timedelta(0), close_pending=True)
    assert len([finding for finding in report.findings if finding.kind == "pending"]) == len(requests)
    assert _statuses(database_url).get("pending", 0) == before.get("pending", 0)
    assert verify_audit_trail(pooled, operator).ok


def test_a_worker_killed_while_checking_csrs_fails_the_call_before_anything_is_recorded(pooled, operator,
                                                                                       database_url):
    issuance.issue_many(pooled, operator, _batch(2 * signing_pool.CHUNK))
    pool = _pool(pooled)
    pids = pool.worker_pids()
    requests = _batch(2 * signing_pool.CHUNK)  # CSR bytes: their checks are the workers' first job
    before = _statuses(database_url)
    outcome: list[object] = []
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        caller = threading.Thread(target=lambda: outcome.append(_call(pooled, operator, requests)))
        caller.start()
        deadline = time.monotonic() + 60
        while sum(worker.outstanding for worker in pool._workers) < len(requests):  # every chunk sent
            assert time.monotonic() < deadline and caller.is_alive(), outcome
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)
    finally:
        for pid in pids[1:]:
            os.kill(pid, signal.SIGCONT)
    caller.join(timeout=60)

    (error,) = outcome
    assert isinstance(error, signing_pool.WorkerLostError), error
    assert "nothing of this batch was recorded" in str(error)
    assert _statuses(database_url) == before


def _batch(size: int) -> list[issuance.IssueRequest]:
    return [issuance.IssueRequest(csr_data=good_csr("ec-p256")[1], user_email=ALICE) for _ in range(size)]


def _call(runtime: Runtime, operator: Actor, requests: list[issuance.IssueRequest]) -> object:
    try:
        return issuance.issue_many(runtime, operator, requests)
    except PKIError as error:
        return error


def test_a_worker_that_died_idle_is_replaced_without_failing_a_call(pooled, operator):
    batch = _batch(2 * signing_pool.CHUNK)
    issuance.issue_many(pooled, operator, batch)
    pool = _pool(pooled)
    victim = pool.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while victim in pool.worker_pids():  # its reader thread reaps it
        assert time.monotonic() < deadline
        time.sleep(0.01)

    results = issuance.issue_many(pooled, operator, _batch(2 * signing_pool.CHUNK))

    assert all(isinstance(result, issuance.IssuedCertificate) for result in results)
    assert victim not in pool.worker_pids() and len(pool.worker_pids()) == PROCESSES


def test_workers_exit_when_their_pool_is_released(pooled, operator):
    issuance.issue_many(pooled, operator, _batch(2 * signing_pool.CHUNK))
    pids = _pool(pooled).worker_pids()
    # a worker idle when the next chunk is sent takes it, so a call may start fewer than PROCESSES workers
    assert 1 <= len(pids) <= PROCESSES

    signing_pool.release(pooled)

    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "a worker outlived its pool"
        time.sleep(0.01)
    assert signing_pool.pool_of(pooled) is None


def test_a_key_file_that_is_not_the_issuer_certificates_key_signs_nothing(session_pki, tmp_path: Path):
    """A worker verifies with the issuer certificate's key and refuses a key file that is not that key."""
    create_issuer_key(tmp_path / "keys", "other", parse_dn("CN=Other CA"), "ec-p256", PASSPHRASE)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_bytes(PASSPHRASE)
    keys = signing_pool._Keys(passphrase_file)
    other = f"file:{(tmp_path / 'keys' / 'other.key.pem').resolve()}"
    right = f"file:{(session_pki.key_dir / f'{session_pki.issuer_name}.key.pem').resolve()}"
    tbs = session_pki.issuer.tbs_certificate_bytes  # any TBS: the refusal comes before signing

    (refused,) = signing_pool.sign_items(keys, other, issuer_spki(session_pki.issuer), [tbs])
    (signed,) = signing_pool.sign_items(keys, right, issuer_spki(session_pki.issuer), [tbs])

    assert refused[0] == "err" and refused[1] == "SigningError"
    assert "is not the key of the issuer certificate" in refused[2]
    assert signed[0] == "ok"
    certificate = x509.load_der_x509_certificate(signed[1])
    assert certificate.tbs_certificate_bytes == tbs
    (token,) = signing_pool.sign_items(keys, "pkcs11:token=x;object=y", issuer_spki(session_pki.issuer), [tbs])
    assert token[:2] == ("err", "SigningError")  # a token's key is never a worker's


def test_the_number_of_signing_processes_is_bounded(environ):
    with pytest.raises(BadRequestError, match="signing_processes must be 0 to 64"):
        load_settings(None, {**environ, "PKI_CA__SIGNING_PROCESSES": "-1"})
    assert load_settings(None, environ).ca.signing_processes == 0  # in-thread unless configured


def test_a_signing_error_of_one_item_is_its_own(session_pki, tmp_path: Path):
    """sign_items answers each TBS alone: bytes that are no TBSCertificate are refused, the others signed."""
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_bytes(PASSPHRASE)
    keys = signing_pool._Keys(passphrase_file)
    key_ref = f"file:{(session_pki.key_dir / f'{session_pki.issuer_name}.key.pem').resolve()}"
    good = session_pki.issuer.tbs_certificate_bytes

    replies = signing_pool.sign_items(keys, key_ref, issuer_spki(session_pki.issuer), [good, b"\x02\x01\x05", good])

    assert [reply[0] for reply in replies] == ["ok", "err", "ok"]
    assert replies[1][1] == "SigningError" and "not a certificate" in replies[1][2]

"""Concurrent CRL publishers (issue 3 acceptance; Boulder #7590): 4 processes publish 100 times each.

Every published number is collected twice, from the publishers' results and from the audit trail, whose
ids follow commit order (appends are serialised until commit). A reader thread re-reads the published
files all along: each read must parse and verify, and the number it sees never goes down.
The acceptance run is on PostgreSQL (PKI_TEST_DATABASE_URL); the SQLite run is the embedded default.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
import traceback

from cryptography import x509

from ca.revoke import revoke_certificate
from revocation.crl import crl_path
from tests.revocation.helpers import audit_events, issue

PROCESSES = 4
ROUNDS = {"postgresql": 100, "sqlite": 25}  # the acceptance figure on PostgreSQL; a lighter run on SQLite
DEADLINE = 120.0  # seconds for the whole run; it takes a few seconds on SQLite and PostgreSQL here


def _publisher(environ: dict[str, str], rounds: int, go, results) -> None:  # runs in a spawned process
    try:
        from ca.actor import cli_operator
        from ca.runtime import build_runtime
        from ca.settings import load_settings
        from revocation.crl import publish_crls

        runtime = build_runtime(load_settings(None, environ), migrate=False)
        actor = cli_operator(f"publisher-{os.getpid()}")
        go.wait(60)
        numbers = []
        for _ in range(rounds):
            numbers += [(p.kind, p.crl_number) for p in publish_crls(runtime, actor)]
        runtime.close()
        results.put(("ok", numbers))
    except BaseException:  # noqa: BLE001 (reported to the parent, which fails the test)
        results.put(("error", traceback.format_exc()))


class _Reader(threading.Thread):
    """Re-reads the full and delta files until stopped; every read must be a whole, valid CRL."""

    def __init__(self, paths, issuer_key) -> None:
        super().__init__(daemon=True)
        self.paths, self.issuer_key = paths, issuer_key
        self.stop = threading.Event()
        self.reads = 0
        self.problems: list[str] = []
        self.last = dict.fromkeys(paths, 0)

    def run(self) -> None:
        while not self.stop.is_set():
            for kind, path in self.paths.items():
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                try:
                    crl = x509.load_der_x509_crl(data)
                    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
                    if not crl.is_signature_valid(self.issuer_key):
                        self.problems.append(f"{kind}: bad signature on CRL #{number}")
                except Exception as exc:  # noqa: BLE001
                    self.problems.append(f"{kind}: unreadable CRL of {len(data)} bytes: {exc}")
                    continue
                if number < self.last[kind]:
                    self.problems.append(f"{kind}: number went down from {self.last[kind]} to {number}")
                self.last[kind] = number
                self.reads += 1


def test_concurrent_publishers(runtime, operator, environ, settings, session_pki):
    # A few revoked certificates, so that every CRL has entries to stream.
    for _ in range(3):
        revoke_certificate(runtime, operator, serial=issue(runtime, operator).serial, reason="superseded")
    name = session_pki.issuer_name
    paths = {kind: crl_path(settings.repository.crl_dir, name, kind) for kind in ("full", "delta")}
    rounds = ROUNDS["sqlite" if environ["PKI_DATABASE__URL"].startswith("sqlite") else "postgresql"]
    # Four publishers queue for SQLite's one write lock on a loaded machine: what is drilled here is the
    # numbering, not the busy timeout (database.sqlite_busy_timeout_ms, 5 s by default; tests/drills).
    publisher_env = {**environ, "PKI_DATABASE__SQLITE_BUSY_TIMEOUT_MS": "60000"}
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    workers = [context.Process(target=_publisher, args=(publisher_env, rounds, go, results), daemon=True)
               for _ in range(PROCESSES)]
    reader = _Reader(paths, session_pki.issuer.public_key())
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        reader.start()
        go.set()
        outcomes = [results.get(timeout=DEADLINE) for _ in workers]
    finally:
        reader.stop.set()
        reader.join(10)
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    elapsed = time.monotonic() - started
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert not errors, errors[0]
    returned = [number for _status, numbers in outcomes for _kind, number in numbers]
    assert len(returned) == PROCESSES * rounds * 2
    assert len(set(returned)) == len(returned), "two publishers published the same CRL number"
    # Commit order = audit order: the numbers strictly increase, full and delta sharing one sequence.
    events = [e for e in audit_events(runtime) if e.action.startswith("crl.published.")]
    in_commit_order = [json.loads(e.details)["crl_number"] for e in events]
    assert len(in_commit_order) == len(returned)
    assert all(a < b for a, b in zip(in_commit_order, in_commit_order[1:], strict=False)), in_commit_order
    assert sorted(returned) == in_commit_order
    # Each publisher saw its own numbers grow too.
    for _status, numbers in outcomes:
        mine = [n for _kind, n in numbers]
        assert mine == sorted(mine)
    # The reader never saw a partial or invalid file, nor a number going down.
    assert not reader.problems, reader.problems[:5]
    assert reader.reads > 50, f"the reader only managed {reader.reads} reads"
    full = x509.load_der_x509_crl(paths["full"].read_bytes())
    delta = x509.load_der_x509_crl(paths["delta"].read_bytes())
    full_number = full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number == full_number
    assert max(in_commit_order) == delta.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert len(full) == 3
    assert sorted(p.name for p in settings.repository.crl_dir.iterdir()) == [f"{name}-delta.crl", f"{name}.crl"]
    print(f"{PROCESSES}x{rounds} publications in {elapsed:.1f} s, {reader.reads} reads")

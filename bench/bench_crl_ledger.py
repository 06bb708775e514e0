"""Benchmark: CRL publication from the ledger (SQLite and PostgreSQL) to a signed file, beside
`openssl ca -gencrl` and `cfssl gencrl` on the same serials.

    .venv/bin/python bench/bench_crl_ledger.py [N ...] [--backend sqlite|postgresql ...]
                                                   (default: 100000 1000000, both backends)

For each N and backend: a fresh ledger migrated to the real schema (ca.ledger.database.upgrade_database), an
issuer installed, then N revoked rows bulk-inserted (SQLite: executemany; PostgreSQL: COPY, then VACUUM
ANALYZE so the covering index answers alone) with serials, dates and reasons from bench_crl_encode.entries and
each row's CRL entry as the ledger stores it with a revocation (ca.x509.crl.encode_revoked_entry),
so the peers get the very same serials from bench_crl_encode.write_peer_inputs. PostgreSQL gets its own
database, dropped and created for each run (BENCH_CRL_DATABASE_URL, default .../bench_crl on 127.0.0.1).
Ours runs in a child process (this script with --worker) that times revocation.crl.publish_crls: the full CRL
streamed from the ledger, encoded, signed through the Signer port and written atomically, then the delta.
Peak RSS is the child's own (os.wait4, as in bench_crl_encode; ~30 MB of it is the interpreter's floor).
Target (issue 14 item 4): 1,000,000 entries, full CRL, in ≤ 2 s and ≤ 200 MB, on either backend.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

from bench_crl_encode import check_same_serials, entries, write_peer_inputs  # noqa: E402
from results import emit, quick  # noqa: E402

PASSPHRASE = b"bench-passphrase-0123456789"
ISSUER = "bench"
PG_URL = os.environ.get("BENCH_CRL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_crl")
BACKENDS = ("sqlite", "postgresql")
QUICK_COUNT = 20_000  # `make bench QUICK=1`: checks the path on both backends; the target is judged at 10^6


def run_child(argv: list[str], stdout_path: Path) -> tuple[float, float, float, int]:
    """bench_crl_encode.run_child plus the child's CPU time (user + system): on a shared machine wall time
    also counts the time spent waiting for a core."""
    import subprocess

    started = time.perf_counter()
    with open(stdout_path, "wb") as out, open(stdout_path.with_suffix(".err"), "wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code:
        print(f"{argv[0]} exited {code}: {stdout_path.with_suffix('.err').read_text()[-500:]}", file=sys.stderr)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def database_url(directory: Path, backend: str) -> str:
    return PG_URL if backend == "postgresql" else f"sqlite:///{directory / 'ledger.sqlite3'}"


def fresh_postgres_database() -> None:
    """Drop and create the bench's own PostgreSQL database (never another one: the name is PG_URL's)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{url.database}"')


def environment(directory: Path, backend: str = "sqlite") -> dict[str, str]:
    return {
        "PKI_DATABASE__URL": database_url(directory, backend),
        "PKI_CA__KEY_DIR": str(directory / "keys"),
        "PKI_CA__PASSPHRASE_FILE": str(directory / "passphrase"),
        "PKI_ROOT__DIR": str(directory / "root-ca"),
        "PKI_REPOSITORY__CRL_DIR": str(directory / "crl"),
    }


def _sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime writes (checked below by reading a row back through the store)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def make_ledger(directory: Path, count: int, seed: int, backend: str = "sqlite") -> float:
    """Root, issuer, migrated ledger, N revoked rows; also ca.pem/ca.key for the peers. Returns seconds."""
    from cryptography.hazmat.primitives import serialization

    from ca import root as root_ca
    from ca.actor import cli_operator
    from ca.issuer import create_issuer_key, key_path
    from ca.keys.filekey import load_private_key
    from ca.ledger import store
    from ca.lifecycle import issuers
    from ca.runtime import build_runtime
    from ca.settings import load_settings
    from ca.x509.crl import encode_revoked_entry
    from ca.x509.names import parse_dn
    from ca.x509.reasons import REASON_NAMES
    from ca.x509.serials import format_serial

    started = time.perf_counter()
    if backend == "postgresql":
        fresh_postgres_database()
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    (directory / "passphrase").write_bytes(PASSPHRASE)
    root = root_ca.init_root(directory / "root-ca", subject=parse_dn("CN=Bench Root,O=Bench,C=FR"),
                             key_type="ec-p384", validity_years=10, passphrase=PASSPHRASE,
                             base_url="http://127.0.0.1:8080", now=now)
    csr = create_issuer_key(directory / "keys", ISSUER, parse_dn("CN=Bench Issuer,O=Bench,C=FR"), "ec-p256",
                            PASSPHRASE)
    issuer = root_ca.sign_issuer(directory / "root-ca", csr_data=csr, passphrase=PASSPHRASE, validity_years=5,
                                 now=now)
    runtime = build_runtime(load_settings(None, environment(directory, backend)))  # runs the migrations
    record = issuers.install_issuer(runtime, cli_operator("bench"), name=ISSUER, certificate=issuer, root=root)
    with runtime.sessionmaker() as session:
        issuer_id = store.get_issuer_by_name(session, record.name).id
    runtime.close()
    # The peers sign with the same issuer key (unencrypted copies for them) and certificate.
    key = load_private_key(key_path(directory / "keys", ISSUER), PASSPHRASE)
    (directory / "ca.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (directory / "ca.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    columns = ("issuer_id", "serial", "status", "profile", "subject", "not_before", "not_after", "spki_sha256",
               "revoked_at", "revocation_reason", "crl_entry", "created_at")
    if backend == "postgresql":
        _copy_rows(columns, issuer_id, now, count, seed)
    else:
        not_before, not_after = _sqlite_time(now - timedelta(days=100)), _sqlite_time(now + timedelta(days=365))
        created = _sqlite_time(now)
        rows = (
            (issuer_id, format_serial(serial), "revoked", "browser", "CN=bench", not_before, not_after, "0" * 64,
             _sqlite_time(date), name, encode_revoked_entry(format_serial(serial), date, name), created)
            for serial, date, reason in entries(count, seed)
            for name in (REASON_NAMES.get(reason or 0, "unspecified"),)
        )
        connection = sqlite3.connect(directory / "ledger.sqlite3")
        with connection:
            connection.executemany(
                f"INSERT INTO certificates ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
        connection.close()
    # Read one row back through the ledger's own store: the text format must be what SQLAlchemy expects.
    runtime = build_runtime(load_settings(None, environment(directory, backend)), migrate=False)
    with runtime.sessionmaker() as session:
        serial, revoked_at, _reason = next(store.iter_revoked_entries(session, issuer_id))
        assert revoked_at.tzinfo is not None and int(serial, 16) > 0
    runtime.close()
    return time.perf_counter() - started


def _copy_rows(columns: tuple[str, ...], issuer_id: int, now: datetime, count: int, seed: int) -> None:
    """PostgreSQL: COPY the revoked rows (psycopg's copy protocol), then VACUUM ANALYZE: the visibility map
    lets the covering index (migration 0005) answer the CRL query without visiting the table."""
    import psycopg
    from sqlalchemy.engine import make_url

    from ca.x509.crl import encode_revoked_entry
    from ca.x509.reasons import REASON_NAMES
    from ca.x509.serials import format_serial

    url = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    not_before, not_after = now - timedelta(days=100), now + timedelta(days=365)
    with psycopg.connect(url, autocommit=True) as connection:
        with connection.cursor() as cursor, cursor.copy(
                f"COPY certificates ({', '.join(columns)}) FROM STDIN") as copy:
            for serial, date, reason in entries(count, seed):
                name, serial_hex = REASON_NAMES.get(reason or 0, "unspecified"), format_serial(serial)
                copy.write_row((issuer_id, serial_hex, "revoked", "browser", "CN=bench", not_before, not_after,
                                "0" * 64, date, name, encode_revoked_entry(serial_hex, date, name), now))
        connection.execute("VACUUM ANALYZE certificates")


def worker(directory: Path, backend: str) -> None:
    """Child process: time the full CRL (its own figure, and the peak RSS, which the full CRL sets), then the
    delta published right after it, as publish_crls does; report JSON."""
    from ca.actor import SYSTEM
    from ca.runtime import build_runtime
    from ca.settings import load_settings
    from revocation import crl as crl_uc

    runtime = build_runtime(load_settings(None, environment(directory, backend)), migrate=False)
    issuer = crl_uc.publishing_issuers(runtime, ISSUER)[0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_before = time.process_time()
    started = time.perf_counter()
    full = crl_uc._publish_one(runtime, SYSTEM, issuer, "full")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    delta = crl_uc._publish_one(runtime, SYSTEM, issuer, "delta")
    delta_seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_total": rss, "rss_delta": rss - rss_before,
                      "entries": full.entries, "bytes": full.path.stat().st_size, "path": str(full.path),
                      "delta_seconds": delta_seconds, "delta_entries": delta.entries}))


Row = tuple[str, float, float | None, float, str]  # tool, wall seconds, CPU seconds, peak MB, note


def bench(count: int, seed: int, verify: bool, backend: str, peers: bool) -> list[Row]:
    """Ours first (full CRL alone, then full+delta as `pkictl crl publish` does), then the peers."""
    from cryptography import x509

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-crl-ledger-") as name:
        directory = Path(name)
        setup = make_ledger(directory, count, seed, backend)
        write_peer_inputs(directory, count, seed)
        print(f"N={count} {backend}: ledger with {count} revoked rows ready in {setup:.1f} s", flush=True)
        argv = [sys.executable, __file__, "--worker", "--dir", name, "--backend", backend]
        wall, _cpu, peak, code = run_child(argv, directory / "ours.json")
        if code:
            rows.append(("ours full CRL", wall, None, peak, "FAILED"))
        else:
            ours = json.loads((directory / "ours.json").read_text())
            note = (f"{ours['entries']} entries, {ours['bytes'] / 2**20:.1f} MB file; then the delta "
                    f"({ours['delta_entries']} entries) in {ours['delta_seconds']:.2f} s; process {wall:.1f} s")
            if verify:
                crl = x509.load_der_x509_crl(Path(ours["path"]).read_bytes())
                issuer = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
                note += "; signature OK" if crl.is_signature_valid(issuer.public_key()) else "; BAD SIGNATURE"
                shutil.copy(ours["path"], directory / "ours.crl")
            rows.append(("ours full CRL", ours["seconds"], ours["cpu"], peak, note))
            rows.append(("ours full+delta (publish_crls)", ours["seconds"] + ours["delta_seconds"], None, peak,
                         "the delta right after the full CRL, as `pkictl crl publish` and the scheduler do"))

        argv = ["openssl", "ca", "-batch", "-gencrl", "-config", str(directory / "openssl.cnf")]
        argv += ["-out", str(directory / "openssl.crl")]
        if not peers:
            pass
        elif shutil.which("openssl"):
            wall, cpu, peak, code = run_child(argv, directory / "openssl.out")
            note = "FAILED" if code else (
                check_same_serials(directory / "openssl.crl", directory / "ours.crl") if verify else "")
            rows.append(("openssl ca -gencrl", wall, cpu, peak, note))
        else:
            print("openssl: not installed, skipped")
        if not peers:
            pass
        elif shutil.which("cfssl"):
            argv = ["cfssl", "gencrl", str(directory / "serials.txt"), str(directory / "ca.pem"),
                    str(directory / "ca.key")]
            wall, cpu, peak, code = run_child(argv, directory / "cfssl.crl")
            note = "FAILED" if code else (
                check_same_serials(directory / "cfssl.crl", directory / "ours.crl", base64_der=True)
                if verify else "")
            rows.append(("cfssl gencrl", wall, cpu, peak, (note + " (no dates/reasons)").strip()))
        else:
            print("cfssl: not installed (apt-get install golang-cfssl), skipped")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("counts", nargs="*", type=int)
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="default: both")
    parser.add_argument("--seed", type=int, default=5280)
    parser.add_argument("--verify", action="store_true", help="compare serials with the peers at every N")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.dir, (args.backend or ["sqlite"])[0])
        return
    if not args.counts:
        args.counts = [QUICK_COUNT] if quick() else [100_000, 1_000_000]
    backends = args.backend or list(BACKENDS)
    results = []
    for count in args.counts:
        verify = args.verify or count <= 100_000  # parsing a million-entry CRL three times costs minutes
        for index, backend in enumerate(backends):
            # The peers read files, not the ledger: measured once per N, beside the first backend.
            results.append((count, backend, bench(count, args.seed, verify, backend, peers=index == 0)))
    load = os.getloadavg()
    print(f"\nCRL from the ledger to a signed file; {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f}")
    print(f"{'tool':<32} {'ledger':<10} {'N':>9} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'x ours':>7}  note")
    peers: dict[int, list[Row]] = {}
    for count, backend, rows in results:
        ours = rows[0][1] if rows and rows[0][0].startswith("ours") and rows[0][4] != "FAILED" else None
        peers.setdefault(count, [r for r in rows if not r[0].startswith("ours")])
        for tool, seconds, cpu, peak, note in rows:
            ratio = f"{seconds / ours:.1f}" if ours else "-"
            cpu_text = f"{cpu:.2f}" if cpu is not None else "-"
            print(f"{tool:<32} {backend:<10} {count:>9} {seconds:>7.2f} {cpu_text:>7} {peak:>8.0f} {ratio:>7}  {note}",
                  flush=True)
        if ours is None:
            continue
        _tool, _seconds, cpu, peak, _note = rows[0]
        judged = count == 1_000_000
        if judged:
            verdict = "met" if ours <= 2 and peak <= 200 else "MISSED"
            print(f"target for 1,000,000 ({backend}): full CRL ≤ 2 s and ≤ 200 MB: {verdict} ({ours:.2f} s wall, "
                  f"{cpu:.2f} s CPU, {peak:.0f} MB)")
        scale = "" if judged else "; target is for 1,000,000"
        both = next((r for r in rows[1:2] if r[4] != "FAILED"), None)
        delta = f"; full+delta {both[1]:.2f} s" if both else ""  # the delta is published right after
        peer = next(iter(peers[count]), None)
        emit(f"CRL of {count:,} from {backend}, full, wall", ours, "s", peer[0] if peer else "-",
             peer[1] if peer else None, "≤ 2 s", (ours <= 2) if judged else None,
             f"{cpu:.2f} s CPU{delta}{scale}")
        emit(f"CRL of {count:,} from {backend}, full, peak RSS", peak, "MB", peer[0] if peer else "-",
             peer[3] if peer else None, "≤ 200 MB", (peak <= 200) if judged else None,
             "whole process (~30 MB interpreter floor)" + scale)


if __name__ == "__main__":
    main()

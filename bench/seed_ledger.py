"""Seed a PostgreSQL ledger for the list benchmarks (issue 15 item 2): N companies, M certificates, fast.

    .venv/bin/python bench/seed_ledger.py [--companies 100000] [--certificates 1000000] [--schema bench_lists]

The schema is migrated by the ledger itself (ca.runtime.build_runtime: the real indexes of every migration),
an issuer is installed the real way (root ceremony, issuer key, signature), then the rows go in with
PostgreSQL COPY (psycopg's copy protocol: ~10^5 rows/s here), followed by VACUUM ANALYZE so the planner knows the
sizes. Shape: one big company holding 10% of the certificates (the 100,000-certificate company of the issue),
the rest spread evenly; every company has a first administrator and a user, the big one 1,000 users; 1 in 10
certificates revoked, 1 in 20 expired. The subject is the one a browser certificate has (C, O, EIC, CN).
A marker table records the scale: a second run with the same scale keeps the data (seeding 10^6 rows costs
minutes on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSPHRASE = b"bench-passphrase-0123456789"
ISSUER = "bench-lists"
BIG_USERS = 1000
PASSWORD = "bench lists password, long enough"
OPERATOR = "operator@bench.example"


def schema_url(schema: str) -> str:
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}"


def environment(directory: Path, schema: str) -> dict[str, str]:
    return {
        "PKI_DATABASE__URL": schema_url(schema), "PKI_CA__KEY_DIR": str(directory / "keys"),
        "PKI_CA__PASSPHRASE_FILE": str(directory / "passphrase"), "PKI_ROOT__DIR": str(directory / "root-ca"),
        "PKI_REPOSITORY__CRL_DIR": str(directory / "crl"), "PKI_PORTAL__SECRET_FILE": str(directory / "session.key"),
    }


def eic(number: int) -> str:
    """A valid EIC code (check character computed) for company `number`; skips codes without a check char."""
    from ca.errors import BadRequestError
    from ca.x509.names import eic_check_character

    while True:
        first15 = f"10X{number:012d}"
        try:
            return first15 + eic_check_character(first15)
        except BadRequestError:
            number += 10**11  # another code of the same company slot, in a range no other slot uses


def _already(connection, companies: int, certificates: int) -> bool:
    row = connection.exec_driver_sql(
        "SELECT to_regclass('bench_scale') IS NOT NULL").scalar()
    if not row:
        return False
    found = connection.exec_driver_sql("SELECT companies, certificates FROM bench_scale").first()
    return found is not None and tuple(found) == (companies, certificates)


def _copy(raw, table: str, columns: tuple[str, ...], rows) -> int:
    count = 0
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(companies: int, certificates: int, schema: str) -> dict[str, object]:
    """Create (or keep) the seeded schema; returns what the benchmark needs to know about it."""
    import sqlalchemy

    from ca import root as root_ca
    from ca.actor import cli_operator
    from ca.issuer import create_issuer_key
    from ca.ledger import store
    from ca.lifecycle import issuers
    from ca.runtime import build_runtime
    from ca.settings import load_settings
    from ca.x509.names import parse_dn
    from enrollment.accounts.passwords import hash_password

    directory = Path(tempfile.gettempdir()) / f"portail-{schema}"
    directory.mkdir(exist_ok=True)
    admin = sqlalchemy.create_engine(PG_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        connection.exec_driver_sql(f"SET search_path TO {schema}")
        if _already(connection, companies, certificates):
            return {"schema": schema, "directory": directory, "seconds": 0.0, "kept": True,
                    "big_eic": eic(0), "env": environment(directory, schema)}
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin.dispose()
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    (directory / "passphrase").write_bytes(PASSPHRASE)
    for stale in ("root-ca", "keys"):
        import shutil

        shutil.rmtree(directory / stale, ignore_errors=True)
    root = root_ca.init_root(directory / "root-ca", subject=parse_dn("CN=Bench Root,O=Bench,C=FR"),
                             key_type="ec-p256", validity_years=10, passphrase=PASSPHRASE,
                             base_url="http://127.0.0.1:8080", now=now)
    csr = create_issuer_key(directory / "keys", ISSUER, parse_dn("CN=Bench Issuer,O=Bench,C=FR"), "ec-p256",
                            PASSPHRASE)
    issuer = root_ca.sign_issuer(directory / "root-ca", csr_data=csr, passphrase=PASSPHRASE, validity_years=5,
                                 now=now)
    runtime = build_runtime(load_settings(None, environment(directory, schema)))  # migrates: real indexes
    issuers.install_issuer(runtime, cli_operator("bench"), name=ISSUER, certificate=issuer, root=root)
    with runtime.sessionmaker() as session:
        issuer_id = store.get_issuer_by_name(session, ISSUER).id
    runtime.close()

    password_hash = hash_password(PASSWORD)
    engine = sqlalchemy.create_engine(schema_url(schema))
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        codes = [eic(i) for i in range(companies)]
        _copy(driver, "companies", ("id", "eic", "name", "approval_policy", "created_at"),
              ((i + 1, codes[i], f"Company {i:06d}", "auto", now) for i in range(companies)))
        users = _users(companies, now, password_hash)
        _copy(driver, "users", ("id", "email", "full_name", "role", "company_id", "status", "password_hash",
                                "created_at"), users)
        _copy(driver, "certificates",
              ("issuer_id", "serial", "status", "profile", "subject", "not_before", "not_after", "spki_sha256",
               "user_id", "company_id", "revoked_at", "revocation_reason", "created_at"),
              _certificates(issuer_id, codes, certificates, now))
        with driver.cursor() as cursor:
            for table in ("companies", "users", "certificates"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT coalesce(max(id), 1) FROM {table}))")
            cursor.execute("CREATE TABLE bench_scale (companies integer, certificates integer)")
            cursor.execute("INSERT INTO bench_scale VALUES (%s, %s)", (companies, certificates))
        driver.commit()
        driver.autocommit = True
        with driver.cursor() as cursor:
            # VACUUM too: it sets the visibility map, as autovacuum has on a live ledger, without which no
            # index-only scan is chosen (the dashboards' counts read the heap: 460 ms instead of 115 ms).
            cursor.execute("VACUUM (ANALYZE) companies, users, certificates")
    finally:
        raw.close()
        engine.dispose()
    return {"schema": schema, "directory": directory, "seconds": time.perf_counter() - started, "kept": False,
            "big_eic": eic(0), "env": environment(directory, schema)}


def user_id_of(company: int, index: int, companies: int) -> int:
    """Users 1..2N: the first administrator (2c+1) and a user (2c+2) of company c; then the big company's."""
    if index < 2:
        return 2 * company + index + 1
    return 2 * companies + index - 1


def _users(companies: int, now: datetime, password_hash: str):
    for c in range(companies):
        yield (2 * c + 1, f"admin{c}@company{c}.example", f"Admin {c:06d}", "first-admin", c + 1, "active",
               password_hash, now)
        yield (2 * c + 2, f"user{c}@company{c}.example", f"User {c:06d}", "user", c + 1, "active", None, now)
    for i in range(2, BIG_USERS):
        yield (user_id_of(0, i, companies), f"person{i}@company0.example", f"Person {i:04d}", "user", 1, "active",
               None, now)
    yield (user_id_of(0, BIG_USERS, companies), OPERATOR, "Bench Operator", "operator", None, "active",
           password_hash, now)


def _certificates(issuer_id: int, codes: list[str], certificates: int, now: datetime):
    companies = len(codes)
    big = certificates // 10
    for n in range(certificates):
        if n < big:
            company, person = 0, n % BIG_USERS
        else:
            company, person = 1 + (n - big) % max(1, companies - 1), n % 2
        user = user_id_of(company, person, companies)
        revoked = n % 10 == 3
        not_after = now - timedelta(days=1 + n % 30) if n % 20 == 7 else now + timedelta(days=1 + n % 700)
        yield (issuer_id, secrets.token_hex(16), "revoked" if revoked else "issued", "browser",
               f"CN=Holder {n:07d},organizationIdentifier={codes[company]},O=Company {company:06d},C=FR",
               now - timedelta(days=400), not_after, secrets.token_hex(32), user, company + 1,
               now if revoked else None, "superseded" if revoked else None, now - timedelta(seconds=certificates - n))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--certificates", type=int, default=1_000_000)
    parser.add_argument("--schema", default="bench_lists")
    args = parser.parse_args(argv)
    info = seed(args.companies, args.certificates, args.schema)
    how = "kept from an earlier run" if info["kept"] else f"{info['seconds']:.1f} s"
    print(f"seeded {args.companies} companies, {args.certificates} certificates in schema {info['schema']} ({how})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

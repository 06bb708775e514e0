"""Benchmark: revoking 100,000 unused certificates on PostgreSQL (issue 14 §5; QUICK=1: 10,000).

    .venv/bin/python bench/bench_bulk_revoke.py [--count N] [--database-url URL]

A fresh schema in the PostgreSQL database of PKI_BENCH_DATABASE_URL (default: the machine's
postgresql+psycopg://postgres@127.0.0.1:5432/test), a P-256 issuer, a company and a user; N issued browser
rows seeded with bulk inserts (tests.support.seed), never used, issued 200 days ago. A CRL is published and
an in-process OCSP responder (revocation.ocsp.OCSPService, its default 0.25 s change-feed poll) answers a
sample of them `good` first. Then, timed: `pkictl cert revoke-unused`'s path (revocation.unused:
unused_row_ids + revoke_unused_rows, batches of ca.bulk_revoke.BATCH_SIZE), then the sample polled until
the responder answers `revoked` for every one of them, and the ledger checked for all N; then the
maintenance pass publishes the CRL (publish_due_crls, run again to show nothing more is due) and the CRL
publications since the start are counted from the audit trail. The peer, in the same run: the same
revocation one certificate at a time (ca.revoke.revoke_certificate) over 200 more rows, extrapolated to N.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from ca.actor import cli_operator  # noqa: E402
from ca.ledger import store  # noqa: E402
from ca.lifecycle import issuers  # noqa: E402
from ca.revoke import revoke_certificate  # noqa: E402
from ca.runtime import build_runtime  # noqa: E402
from ca.settings import load_settings  # noqa: E402
from ca.x509.serials import format_serial  # noqa: E402
from enrollment.accounts import companies  # noqa: E402
from enrollment.accounts import users as accounts  # noqa: E402
from revocation.crl import publish_crls, publish_due_crls  # noqa: E402
from revocation.ocsp import OCSPService  # noqa: E402
from revocation.unused import revoke_unused_rows, unused_row_ids  # noqa: E402
from tests.revocation.helpers import cert_id, ocsp_request  # noqa: E402
from tests.support.seed import seed_issued  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_issuance import EIC, ISSUER, USER, make_pki  # noqa: E402
from results import emit, quick  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SAMPLE = 1000
PEER_ROWS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000 if quick() else 100_000)
    parser.add_argument("--database-url", default=os.environ.get("PKI_BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = create_engine(args.database_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in args.database_url else "?"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-bulk-revoke-") as tmp:
            run(Path(tmp), f"{args.database_url}{separator}options=-csearch_path%3D{schema}", args.count)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def run(base: Path, url: str, count: int) -> None:
    environ = {**make_pki(base), "PKI_DATABASE__URL": url}
    runtime = build_runtime(load_settings(None, environ))
    operator = cli_operator("bench")
    issuer_certificate = x509.load_pem_x509_certificate((base / "issuer.crt").read_bytes())
    issuers.install_issuer(runtime, operator, name=ISSUER, certificate=issuer_certificate,
                           root=x509.load_pem_x509_certificate((base / "root-ca" / "root.crt").read_bytes()))
    companies.create_company(runtime, operator, eic=EIC, name="Bench Producer")
    accounts.create_user(runtime, operator, email=USER, full_name="Bench User", company_eic=EIC, role="user")
    with runtime.sessionmaker() as session:
        ids = (store.get_active_issuer(session).id, store.get_company_by_eic(session, EIC).id,
               store.get_user_by_email(session, USER).id)
    now = runtime.clock.now()
    seeding = time.perf_counter()
    serials = seed_issued(runtime, count=count + PEER_ROWS, issuer_id=ids[0], company_id=ids[1], user_id=ids[2],
                          not_before=now - timedelta(days=200), not_after=now + timedelta(days=200))
    seeded = time.perf_counter() - seeding
    publish_crls(runtime, operator)

    # The peer: the per-certificate path, on PEER_ROWS rows that are then out of the unused set.
    peer_serials = serials[count:]
    started = time.perf_counter()
    for serial in peer_serials:
        revoke_certificate(runtime, operator, serial=format_serial(serial), reason="cessationOfOperation")
    per_certificate = (time.perf_counter() - started) / len(peer_serials)

    service = OCSPService(runtime)
    step = max(1, count // SAMPLE)
    sample = serials[:count:step]
    requests = [ocsp_request(cert_id(issuer_certificate, serial)) for serial in sample]

    def statuses() -> list[ocsp.OCSPCertStatus]:
        return [ocsp.load_der_ocsp_response(service.respond(body=r).der).certificate_status for r in requests]

    if set(statuses()) != {ocsp.OCSPCertStatus.GOOD}:
        raise SystemExit("bench: the sample is not answered good before the revocation")
    with runtime.sessionmaker() as session:
        last_event = store.last_event_id(session)

    started = time.perf_counter()
    rows = unused_row_ids(runtime, operator, days=90)
    revoked = revoke_unused_rows(runtime, operator, rows)
    revoke_seconds = time.perf_counter() - started
    while True:
        answers = statuses()
        if set(answers) == {ocsp.OCSPCertStatus.REVOKED} or time.perf_counter() - started > 120:
            break
        time.sleep(0.05)
    ocsp_seconds = time.perf_counter() - started
    with runtime.sessionmaker() as session:
        in_ledger = session.execute(text("SELECT count(*) FROM certificates WHERE status = 'revoked' "
                                         "AND revocation_reason = 'cessationOfOperation'")).scalar_one()
    publishing = time.perf_counter()
    publish_due_crls(runtime, operator)
    publish_seconds = time.perf_counter() - publishing
    again = publish_due_crls(runtime, operator)
    with runtime.sessionmaker() as session:
        publications = session.execute(text("SELECT count(*) FROM audit_events WHERE id > :after AND "
                                             "action = 'crl.published.full'"), {"after": last_event}).scalar_one()
    runtime.close()

    all_revoked = set(answers) == {ocsp.OCSPCertStatus.REVOKED}
    print(f"bulk revocation: PostgreSQL, {count:,} unused rows (+{PEER_ROWS} for the peer) seeded in {seeded:.1f} s, "
          f"{os.cpu_count()} CPUs")
    print(f"  revoke-unused path: {len(revoked):,} revoked in {revoke_seconds:.2f} s "
          f"({len(revoked) / revoke_seconds:,.0f}/s); one at a time: {1e3 * per_certificate:.2f} ms each, "
          f"{per_certificate * count:.0f} s for {count:,}")
    print(f"  OCSP: {len(sample)} sampled serials answered revoked {ocsp_seconds:.2f} s after the start "
          f"({'all' if all_revoked else 'NOT all'}); ledger: {in_ledger:,} of {count + PEER_ROWS:,} revoked")
    print(f"  CRL: {publications} full publication(s) since the start ({publish_seconds:.2f} s), "
          f"{len(again)} more due on the next pass")
    emit(f"bulk revocation of {count:,} unused, PostgreSQL", revoke_seconds, "s",
         "one at a time (extrapolated)", per_certificate * count, "≤ 30 s for 100,000",
         None if count < 100_000 else (revoke_seconds <= 30 and len(revoked) == count),
         f"{len(revoked):,} revoked" + ("; quick run: 10,000, not judged" if count < 100_000 else ""))
    emit("bulk revocation: OCSP answers revoked", ocsp_seconds, "s", "", None, "≤ 60 s, CRL once",
         all_revoked and in_ledger == count + PEER_ROWS and ocsp_seconds <= 60 and publications == 1,
         f"sample of {len(sample)} over OCSP, all {in_ledger:,} in the ledger; {publications} CRL publication(s)")


if __name__ == "__main__":
    main()

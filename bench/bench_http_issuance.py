"""Benchmark: certificates issued per second over HTTP, ours against `cfssl serve` in the same run (issue 14
§1: ≥ 2× cfssl with its SQLite certdb, ≥ 0.5× cfssl without a database).

    .venv/bin/python bench/bench_http_issuance.py [--seconds S] [--connections C] [--workers W]

All three are driven by the same client, wrk (-c16 by default, keep-alive, every answer expected 2xx), with
the same pool of --pool distinct P-256 CSRs (2,048 by default) that each wrk thread POSTs in turn from its
own offset, so that no server profits from a repeated input:
  - ours: `pkictl serve portal` (granian, W workers, SQLite WAL ledger or --database-url, lint before sign
    on), the JSON API
    `POST /api/v1/requests` of one logged-in member of a company with the `auto` policy (session cookie and
    X-CSRF-Token as the API documents): each call records the request and issues the certificate;
  - `cfssl serve` with `-db-config` (its SQLite certdb, every signed certificate recorded) and without a
    database, `POST /api/v1/cfssl/sign` with the same CSR, a P-256 CA key of its own.
A missing cfssl or wrk is reported, not judged. Next to each rate: the server's CPU per certificate (every
process of its group, user + system, during the wrk run), a figure the machine's load moves much less.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_issuance import EIC, ISSUER, USER, make_pki  # noqa: E402
from bench_ocsp import PKICTL, Row, free_port, process_env, run_wrk, start, stop  # noqa: E402
from results import emit, quick  # noqa: E402

PASSWORD = "bench-Password-2026!"
# The certdb schema cfssl's sqlite driver writes to (its certdb/sqlite migrations, written out here).
CERTDB_SCHEMA = """
CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, ca_label blob,
  status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp, pem blob NOT NULL,
  issued_at timestamp, not_before timestamp, metadata text, sans text, common_name text,
  PRIMARY KEY (serial_number, authority_key_identifier));
CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
  body blob NOT NULL, expiry timestamp, PRIMARY KEY (serial_number, authority_key_identifier),
  FOREIGN KEY (serial_number, authority_key_identifier)
  REFERENCES certificates (serial_number, authority_key_identifier));
"""


def csr_pem() -> str:
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "bench")])
    return (x509.CertificateSigningRequestBuilder().subject_name(subject)
            .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM).decode("ascii"))


def lua_script(path: Path, bodies: list[str], headers: dict[str, str]) -> Path:
    """A wrk script that POSTs the bodies in turn, each connection thread from its own offset, so that no
    server sees one input repeated back to back (a pool of distinct CSRs, the same pool for every server)."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(bodies[0])}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines += ["bodies = {" + ",\n".join(json.dumps(body) for body in bodies) + "}",
              "local threads = 0",
              "function setup(thread) threads = threads + 1; thread:set(\"offset\", threads * 7919) end",
              "function init(args) counter = offset or 0 end",
              "function request() counter = counter + 1; "
              "return wrk.format(nil, nil, nil, bodies[(counter % #bodies) + 1]) end"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_http(port: int, path: str, process: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


def _cookies(response: http.client.HTTPResponse, jar: dict[str, str]) -> None:
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


def log_in(port: int) -> dict[str, str]:
    """The headers of a logged-in API client: the session cookie and the CSRF token of GET /api/v1/me."""
    jar: dict[str, str] = {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    _cookies(response, jar)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert token, "no CSRF token on the login page"
    form = f"csrf_token={token.group(1)}&email={USER}&password={PASSWORD}"
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    connection.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"login answered {response.status}")
    _cookies(response, jar)
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    connection.request("GET", "/api/v1/me", headers={"Cookie": cookie})
    response = connection.getresponse()
    me = json.loads(response.read())
    _cookies(response, jar)
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    return {"Cookie": cookie, "X-CSRF-Token": me["csrf_token"], "Content-Type": "application/json"}


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process of a process group (a server and its workers), from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measured_wrk(process: subprocess.Popen[bytes], url: str, script: Path, args: argparse.Namespace,
                 name: str) -> tuple[Row, str]:
    """wrk's row and the server's CPU per answered request during the run ("" when nothing was answered)."""
    before = group_cpu_seconds(process.pid)
    row = run_wrk(url, script, args.connections, args.seconds, name)
    used = group_cpu_seconds(process.pid) - before
    answered = (row.rps or 0) * args.seconds
    return row, f"{1000 * used / answered:.2f} ms CPU/cert" if answered else ""


def post(port: int, path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def count_issued(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM certificates WHERE status = 'issued'")
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def prepare_ours(base: Path, args: argparse.Namespace) -> dict[str, str]:
    """The PKI_* environment of a fresh ledger under `base`: the issuer installed, the company (policy
    `auto`) and its member USER with PASSWORD."""
    from ca.actor import cli_operator
    from ca.ledger import portal_store, store
    from ca.lifecycle import issuers
    from ca.runtime import build_runtime
    from ca.settings import load_settings
    from enrollment.accounts import companies
    from enrollment.accounts import users as accounts
    from enrollment.accounts.passwords import hash_password

    environ = {**make_pki(base), "PKI_PORTAL__SECRET_FILE": str(base / "secrets" / "session.key"),
               "PKI_PORTAL__OUTBOX_DIR": str(base / "outbox"), "PKI_REPOSITORY__CROSS_DIR": str(base / "cross"),
               "PKI_CA__SIGNING_PROCESSES": str(args.signing_processes)}
    if args.database_url:
        environ["PKI_DATABASE__URL"] = args.database_url
    runtime = build_runtime(load_settings(None, environ))
    operator = cli_operator("bench")
    issuers.install_issuer(runtime, operator, name=ISSUER,
                           certificate=x509.load_pem_x509_certificate((base / "issuer.crt").read_bytes()),
                           root=x509.load_pem_x509_certificate((base / "root-ca" / "root.crt").read_bytes()))
    companies.create_company(runtime, operator, eic=EIC, name="Bench Producer")
    accounts.create_user(runtime, operator, email=USER, full_name="Bench User", company_eic=EIC, role="user")
    with runtime.sessionmaker.begin() as session:
        portal_store.mark_user(session, store.get_user_by_email(session, USER), password_hash=hash_password(PASSWORD))
    runtime.close()
    return environ


def bench_ours(base: Path, csrs: list[str], args: argparse.Namespace) -> Row:
    name = f"ours, portal API, granian w{args.workers}" + (f" t{args.threads}" if args.threads else "")
    if args.signing_processes:
        name += f", {args.signing_processes} signing processes"
    if args.database_url:
        name += ", PostgreSQL"
    environ = prepare_ours(base, args)
    port = free_port()
    argv = [PKICTL, "serve", "portal", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
    argv += ["--threads", str(args.threads)] if args.threads else []
    # The server runs this checkout's code: the venv's editable install maps the packages to the checkout
    # it was installed from, which a worktree's bench would otherwise measure instead of its own.
    server_env = process_env(environ)
    server_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), server_env.get("PYTHONPATH")]))
    process = start(argv, server_env, base / "portal.log")
    try:
        _wait_http(port, "/login", process)
        headers = log_in(port)
        bodies = [json.dumps({"csr": csr}) for csr in csrs]
        status, answer = post(port, "/api/v1/requests", bodies[0], headers)
        if status != 201 or not json.loads(answer).get("certificate_serial"):
            return Row(name, note=f"failed: probe answered {status} {answer[:200]!r}")
        script = lua_script(base / "ours.lua", bodies, headers)
        row, cpu = measured_wrk(process, f"http://127.0.0.1:{port}/api/v1/requests", script, args, name)
        issued = count_issued(environ["PKI_DATABASE__URL"])
        row.note = f"{cpu}; {issued} issued in the ledger"
        if "fast path is off" in (base / "portal.log").read_text(errors="replace"):
            row.note += "; upload fast path OFF (see portal.log)"
        return row
    finally:
        stop(process)


def cfssl_ca(base: Path) -> tuple[Path, Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Bench cfssl CA")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .sign(key, hashes.SHA256()))
    (base / "cfssl-ca.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (base / "cfssl-ca-key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.TraditionalOpenSSL,
                                                              serialization.NoEncryption()))
    config = {"signing": {"default": {"expiry": "8760h", "usages": ["digital signature", "client auth"]}}}
    (base / "cfssl-config.json").write_text(json.dumps(config))
    return base / "cfssl-ca.pem", base / "cfssl-ca-key.pem", base / "cfssl-config.json"


def bench_cfssl(base: Path, csrs: list[str], args: argparse.Namespace, *, certdb: bool) -> Row:
    name = "cfssl serve, SQLite certdb" if certdb else "cfssl serve, no database"
    ca, ca_key, config = cfssl_ca(base)
    argv = ["cfssl", "serve", "-address", "127.0.0.1", "-port", "0", "-ca", str(ca), "-ca-key", str(ca_key),
            "-config", str(config), "-loglevel", "5"]
    database = base / ("cfssl-certdb.sqlite3" if certdb else "none")
    if certdb:
        with sqlite3.connect(database) as connection:
            connection.executescript(CERTDB_SCHEMA)
        (base / "cfssl-db.json").write_text(json.dumps({"driver": "sqlite3", "data_source": str(database)}))
        argv += ["-db-config", str(base / "cfssl-db.json")]
    port = free_port()
    argv[argv.index("-port") + 1] = str(port)
    process = start(argv, None, base / f"{name.replace(' ', '_').replace(',', '')}.log")
    try:
        _wait_http(port, "/api/v1/cfssl/health", process)
        bodies = [json.dumps({"certificate_request": csr}) for csr in csrs]
        status, answer = post(port, "/api/v1/cfssl/sign", bodies[0], {"Content-Type": "application/json"})
        if status != 200 or not json.loads(answer).get("success"):
            return Row(name, note=f"failed: probe answered {status} {answer[:200]!r}")
        script = lua_script(base / "cfssl.lua", bodies, {"Content-Type": "application/json"})
        row, row.note = measured_wrk(process, f"http://127.0.0.1:{port}/api/v1/cfssl/sign", script, args, name)
        if certdb:
            recorded = sqlite3.connect(database).execute("SELECT count(*) FROM certificates").fetchone()[0]
            row.note += f"; {recorded} recorded in its certdb"
        return row
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5 if quick() else 10)
    parser.add_argument("--connections", type=int, default=16)
    # One worker by default: on SQLite two worker processes contend for the one write lock, their group
    # committers cannot share a commit, and a committer waiting in SQLite's busy handler (sleeps of up to
    # 100 ms) can starve: with --workers 2 wrk saw answers later than its 2 s timeout, with 1 none (threads
    # of one process share commits instead; measured on this 2-core machine, issue 14 §1). With the batched
    # uploads (enrollment.requests.request_batcher) two workers still measured no more certificates/s, at
    # more CPU per certificate and a worse p99, on the shared 2-core machine.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="request threads per portal worker")
    parser.add_argument("--signing-processes", type=int, default=0,
                        help="ca.signing_processes of the portal (0: CSR checks and signatures in its threads)")
    parser.add_argument("--database-url", default=None,
                        help="ours on this ledger instead of a fresh SQLite file: an EMPTY PostgreSQL database "
                             "(postgresql+psycopg://...), filled by the run")
    parser.add_argument("--pool", type=int, default=2048, help="distinct CSRs the clients take in turn")
    parser.add_argument("--only", choices=("ours", "certdb", "nodb"), action="append", default=None,
                        help="measure only these servers (repeatable; the targets are then not judged)")
    args = parser.parse_args()
    missing = [tool for tool in ("wrk", "cfssl") if not shutil.which(tool)]
    if missing:
        print(f"HTTP issuance benchmark: {', '.join(missing)} not installed; skipped")
        emit("HTTP issuance, JSON API, 16 clients", 0, "/s", "cfssl serve (SQLite certdb)", None,
             "≥ 2x cfssl certdb", None, f"not measured: {', '.join(missing)} missing")
        return
    csrs = [csr_pem() for _ in range(args.pool)]
    runs = args.only or ["certdb", "nodb", "ours"]
    rows: dict[str, Row] = {}
    for run in runs:
        with tempfile.TemporaryDirectory(prefix=f"bench-http-{run}-") as tmp:
            if run == "ours":
                rows[run] = bench_ours(Path(tmp), csrs, args)
            else:
                rows[run] = bench_cfssl(Path(tmp), csrs, args, certdb=run == "certdb")
    print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, POST of JSON bodies with {args.pool} distinct P-256 CSRs"
          f" in turn; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'server':<36} {'certs/s':>9} {'p50 ms':>8} {'p99 ms':>8}  note")
    for row in rows.values():
        print(f"{row.name:<36} {row.rps or 0:9.0f} {row.p50_ms or 0:8.2f} {row.p99_ms or 0:8.2f}  "
              f"{'; '.join(x for x in (row.errors, row.note) if x)}")
    if args.only:
        return
    certdb, nodb, ours = rows["certdb"], rows["nodb"], rows["ours"]
    clean = ours.rps is not None and not ours.errors
    emit(f"HTTP issuance, JSON API, {args.connections} clients", ours.rps or 0, "/s", "cfssl serve (SQLite certdb)",
         certdb.rps, "≥ 2x cfssl certdb",
         (clean and bool(certdb.rps) and (ours.rps or 0) >= 2 * (certdb.rps or 0)) if certdb.rps else None,
         f"p99 {ours.p99_ms} ms against {certdb.p99_ms} ms; {ours.errors or ours.note}")
    emit(f"HTTP issuance, JSON API, {args.connections} clients", ours.rps or 0, "/s", "cfssl serve (no database)",
         nodb.rps, "≥ 0.5x cfssl no db",
         (clean and (ours.rps or 0) >= 0.5 * (nodb.rps or 0)) if nodb.rps else None,
         f"cfssl p99 {nodb.p99_ms} ms")


if __name__ == "__main__":
    main()

"""`pkictl` end to end through click's CliRunner: each command's output, and each refusal as one line on
stderr, a non-zero exit and an unchanged ledger (issue 2 §10 and its interface contract)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from ca import issuance
from ca.ledger import store
from ca.ledger.database import MIGRATIONS_DIR
from ca.ledger.models import AuditEvent
from ca.revoke import revoke_certificate
from ca.x509.keycheck import spki_sha256
from cli.main import cli
from enrollment.accounts import companies
from enrollment.accounts import users as accounts
from tests.conftest import EIC, OTHER_EIC
from tests.support.ledger import snapshot
from tests.support.pki import PASSPHRASE
from tests.vectors.bad_csrs import build_bad_csrs, good_csr

ALICE = "alice@example.com"
# The acceptance list (the blocked key has its own test below), each with what its one-line error must say.
BAD_CSRS = {"bad-signature": "signature does not verify", "rsa-1024": "1024 bits", "rsa-e3": "exponent 3",
            "rsa-fermat": "fermat", "p192": "P-192", "secp256k1": "secp256k1", "garbage": "not a certificate signing",
            "empty": "empty", "huge": "64 KiB"}
REQUIRED_FIELDS = {"serial", "issuer", "status", "subject", "not_before", "not_after", "user", "company", "profile",
                   "revoked_at", "revocation_reason", "last_used_at", "sha256"}


@cache
def bad_csrs() -> dict[str, bytes]:
    """Built once per worker: the Fermat and RSA vectors cost most of a second."""
    return build_bad_csrs()


def run(runner: CliRunner, *args: object, env: dict[str, str] | None = None, input: bytes | None = None) -> Result:
    return runner.invoke(cli, [str(a) for a in args], env=env, input=input, catch_exceptions=False)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def refused(result: Result, *fragments: str, prefix: str = "error: ") -> str:
    """A refusal: non-zero exit, nothing on stdout, exactly one line `error: ...` on stderr."""
    assert result.exit_code != 0, result.stdout
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix) and len(lines[0]) > len(prefix), lines[0]
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def issue(runner: CliRunner, tmp_path: Path, name: str, *extra: str, user: str = ALICE) -> tuple[str, Path]:
    """Issue a browser certificate from a fresh P-256 CSR; return (serial, PEM file)."""
    csr = write(tmp_path / f"{name}.csr", good_csr("ec-p256")[1])
    out = tmp_path / f"{name}.pem"
    stdout = ok(run(runner, "cert", "issue", "--csr", csr, "--user", user, "--out", out, *extra))
    serial = re.search(r"certificate ([0-9a-f]+) issued", stdout).group(1)
    return serial, out


def as_json(result: Result) -> list[dict] | dict:
    return json.loads(ok(result))


# --- companies ---------------------------------------------------------------------------------------------
def test_company_create_and_list(runner, runtime):
    before = snapshot(runtime)
    assert "10XFR-RTE------Q" in ok(run(runner, "company", "create", "--eic", "10xfr-rte------q", "--name", "RTE"))
    assert snapshot(runtime) == {**before, "companies": before["companies"] + 1,
                                 "audit_events": before["audit_events"] + 1}
    table = ok(run(runner, "company", "list"))
    assert re.search(r"^10XFR-RTE------Q\s+RTE$", table, re.M) and EIC in table
    listed = as_json(run(runner, "company", "list", "--format", "json"))
    assert {(c["eic"], c["name"]) for c in listed} == {(EIC, "Demo Producer"), (OTHER_EIC, "RTE")}


@pytest.mark.parametrize(("eic", "fragments"), [
    ("10XFR-RTE------R", ("check character", "'Q'")),
    ("10XFR-RTE-----Q", ("16 characters",)),
    ("10XFR_RTE------Q", ("not allowed",)),
])
def test_company_create_bad_eic_changes_nothing(runner, runtime, eic, fragments):
    before = snapshot(runtime)
    refused(run(runner, "company", "create", "--eic", eic, "--name", "RTE"), *fragments)
    assert snapshot(runtime) == before


def test_company_create_duplicate_is_a_conflict(runner, runtime):
    before = snapshot(runtime)
    refused(run(runner, "company", "create", "--eic", EIC.lower(), "--name", "Again"), "already exists")
    assert snapshot(runtime) == before


# --- users -------------------------------------------------------------------------------------------------
def test_user_create_each_role_and_list(runner, runtime):
    ok(run(runner, "company", "create", "--eic", OTHER_EIC, "--name", "RTE"))
    before = snapshot(runtime)
    for email, role, company in [("bob@example.com", "user", EIC), ("carol@example.com", "admin", EIC),
                                 ("dave@example.com", "first-admin", OTHER_EIC), ("op@example.com", "operator", None)]:
        args = ["user", "create", "--email", email, "--name", f"Name {role}", "--role", role]
        out = ok(run(runner, *args, *(["--company", company] if company else [])))
        assert email in out and role in out
    assert snapshot(runtime) == {**before, "users": before["users"] + 4, "audit_events": before["audit_events"] + 4}
    users = {u["email"]: u for u in as_json(run(runner, "user", "list", "--format", "json"))}
    assert {e: (u["role"], u["company"]) for e, u in users.items()} == {
        ALICE: ("first-admin", EIC), "bob@example.com": ("user", EIC), "carol@example.com": ("admin", EIC),
        "dave@example.com": ("first-admin", OTHER_EIC), "op@example.com": ("operator", None)}
    assert all(u["status"] == "active" for u in users.values())
    of_company = as_json(run(runner, "user", "list", "--company", EIC.lower(), "--format", "json"))
    assert sorted(u["email"] for u in of_company) == [ALICE, "bob@example.com", "carol@example.com"]
    table = ok(run(runner, "user", "list", "--company", OTHER_EIC))
    assert "dave@example.com" in table and ALICE not in table


@pytest.mark.parametrize(("args", "fragments"), [
    (["--email", "bob@example.com", "--company", OTHER_EIC], ("no company", OTHER_EIC)),
    (["--email", "bob@example.com", "--company", "10XFR-RTE------R"], ("no company",)),
    (["--email", "bob@example.com"], ("needs a company",)),
    (["--email", "op@example.com", "--company", EIC, "--role", "operator"], ("operator belongs to no company",)),
    (["--email", "not-an-address", "--company", EIC], ("invalid e-mail",)),
    (["--email", "ALICE@example.com", "--company", EIC], ("already exists",)),
])
def test_user_create_refusals_change_nothing(runner, runtime, args, fragments):
    before = snapshot(runtime)
    refused(run(runner, "user", "create", "--name", "Bob Stone", *args), *fragments)
    assert snapshot(runtime) == before


def test_user_list_unknown_company(runner, runtime):
    before = snapshot(runtime)
    refused(run(runner, "user", "list", "--company", OTHER_EIC), "no company")
    assert snapshot(runtime) == before


# --- cert issue --------------------------------------------------------------------------------------------
def test_cert_issue_writes_pem_recorded_in_the_ledger(runner, runtime, session_pki, tmp_path):
    before = snapshot(runtime)
    serial, out = issue(runner, tmp_path, "leaf")
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    cert.verify_directly_issued_by(session_pki.issuer)
    assert f"{cert.serial_number:x}".zfill(len(serial)) == serial
    assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0].value == EIC
    assert snapshot(runtime) == {**before, "certificates": before["certificates"] + 1,
                                 "audit_events": before["audit_events"] + 1}
    with runtime.sessionmaker() as session:
        row = store.get_certificate(session, serial)
        assert row.status == "issued" and row.der == cert.public_bytes(serialization.Encoding.DER)


def test_cert_issue_csr_from_stdin_and_der(runner, runtime, tmp_path):
    key, pem = good_csr("ec-p384")
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    ok(run(runner, "cert", "issue", "--csr", "-", "--user", ALICE, "--out", tmp_path / "a.pem", input=pem))
    ok(run(runner, "cert", "issue", "--csr", write(tmp_path / "b.der", der), "--user", ALICE,
           "--out", tmp_path / "b.pem"))
    for name in ("a.pem", "b.pem"):
        cert = x509.load_pem_x509_certificate((tmp_path / name).read_bytes())
        assert spki_sha256(cert.public_key()) == spki_sha256(key.public_key())


@pytest.mark.parametrize("name", sorted(BAD_CSRS))
def test_cert_issue_bad_csr_one_line_no_row(runner, runtime, tmp_path, name):
    csr = write(tmp_path / "bad.csr", bad_csrs()[name])
    out = tmp_path / "leaf.pem"
    before = snapshot(runtime)
    refused(run(runner, "cert", "issue", "--csr", csr, "--user", ALICE, "--out", out), BAD_CSRS[name])
    assert snapshot(runtime) == before
    assert not out.exists()


def test_bad_csr_list_is_the_acceptance_list():
    assert sorted(bad_csrs()) == sorted(BAD_CSRS)


def test_cert_issue_blocked_key_one_line_no_row(runner, runtime, tmp_path):
    key, csr = good_csr("ec-p256")
    with runtime.sessionmaker.begin() as session:
        store.add_blocked_key(session, spki_sha256=spki_sha256(key.public_key()), reason="test",
                              at=runtime.clock.now())
    before = snapshot(runtime)
    out = tmp_path / "leaf.pem"
    refused(run(runner, "cert", "issue", "--csr", write(tmp_path / "k.csr", csr), "--user", ALICE, "--out", out),
            "blocked")
    assert snapshot(runtime) == before and not out.exists()


def test_cert_issue_csr_asking_ca_true_gets_ca_false(runner, runtime, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Evil CA")]))
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "leaf.pem"
    ok(run(runner, "cert", "issue", "--csr", write(tmp_path / "ca.csr", csr), "--user", ALICE, "--out", out))
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


@pytest.mark.parametrize(("args", "fragments"), [
    (["--user", "nobody@example.com"], ("no user",)),
    (["--user", ALICE, "--days", "826"], ("825",)),
    (["--user", ALICE, "--profile", "tls-server"], ("dns",)),
])
def test_cert_issue_refusals_change_nothing(runner, runtime, tmp_path, args, fragments):
    out = tmp_path / "leaf.pem"
    before = snapshot(runtime)
    refused(run(runner, "cert", "issue", "--csr", write(tmp_path / "k.csr", good_csr("ec-p256")[1]), *args,
                "--out", out), *fragments)
    assert snapshot(runtime) == before and not out.exists()


def test_cert_issue_refuses_to_overwrite_out(runner, runtime, tmp_path):
    out = write(tmp_path / "leaf.pem", "precious\n")
    before = snapshot(runtime)
    refused(run(runner, "cert", "issue", "--csr", write(tmp_path / "k.csr", good_csr("ec-p256")[1]),
                "--user", ALICE, "--out", out), "overwrite", str(out))
    assert out.read_text() == "precious\n"
    assert snapshot(runtime) == before


def test_cert_issue_missing_csr_file(runner, runtime, tmp_path):
    before = snapshot(runtime)
    result = run(runner, "cert", "issue", "--csr", tmp_path / "absent.csr", "--user", ALICE, "--out",
                 tmp_path / "leaf.pem")
    refused(result, "not found")
    assert snapshot(runtime) == before


# --- cert list / show --------------------------------------------------------------------------------------
@pytest.fixture
def populated(runner, runtime, operator, tmp_path):
    """alice: a live certificate (CLI), an expired one and a revoked one; bob of another company: one."""
    companies.create_company(runtime, operator, eic=OTHER_EIC, name="RTE")
    accounts.create_user(runtime, operator, email="bob@example.com", full_name="Bob Stone", company_eic=OTHER_EIC)
    live, live_pem = issue(runner, tmp_path, "live")
    # The runtime's clock stands at T0 + 1 day; a 1-day certificate from then is expired by the CLI's clock.
    expired = issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1], user_email=ALICE,
                                         days=1).serial
    revoked = issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1],
                                         user_email=ALICE).serial
    revoke_certificate(runtime, operator, serial=revoked, reason="superseded")
    bob, _ = issue(runner, tmp_path, "bob", user="bob@example.com")
    return {"live": live, "live_pem": live_pem, "expired": expired, "revoked": revoked, "bob": bob}


def _browser_rows(runner, *filters: str) -> dict[str, dict]:
    """Browser certificates only: a revocation may also have the OCSP responder certificate issued."""
    rows = as_json(run(runner, "cert", "list", "--format", "json", *filters))
    others = [r for r in rows if r["profile"] != "browser"]
    assert all(r["profile"] == "ocsp-responder" and r["user"] is None and r["company"] is None for r in others)
    return {r["serial"]: r for r in rows if r["profile"] == "browser"}


def _serials(runner, *filters: str) -> set[str]:
    return set(_browser_rows(runner, *filters))


def test_cert_list_json_fields(runner, populated, session_pki):
    rows = _browser_rows(runner)
    assert set(rows) == {populated[k] for k in ("live", "expired", "revoked", "bob")}
    for serial, row in rows.items():
        assert REQUIRED_FIELDS <= set(row)
        assert re.fullmatch(r"[0-9a-f]+", serial) and len(serial) % 2 == 0
        assert row["issuer"] == session_pki.issuer_name
        assert datetime.fromisoformat(row["not_before"]) < datetime.fromisoformat(row["not_after"])
        assert re.fullmatch(r"[0-9a-f]{64}", row["sha256"])
    live = rows[populated["live"]]
    der = x509.load_pem_x509_certificate(populated["live_pem"].read_bytes()).public_bytes(serialization.Encoding.DER)
    assert live["sha256"] == hashlib.sha256(der).hexdigest()
    assert (live["status"], live["user"], live["company"], live["revoked_at"], live["revocation_reason"],
            live["last_used_at"]) == ("issued", ALICE, EIC, None, None, None)
    assert "CN=Alice Martin" in live["subject"]
    assert rows[populated["expired"]]["status"] == "expired"
    revoked = rows[populated["revoked"]]
    assert revoked["status"] == "revoked" and revoked["revocation_reason"] == "superseded"
    assert datetime.fromisoformat(revoked["revoked_at"]).tzinfo is not None
    assert (rows[populated["bob"]]["user"], rows[populated["bob"]]["company"]) == ("bob@example.com", OTHER_EIC)


def test_cert_list_filters(runner, populated):
    p = populated
    assert _serials(runner, "--company", EIC) == {p["live"], p["expired"], p["revoked"]}
    assert _serials(runner, "--company", OTHER_EIC.lower()) == {p["bob"]}
    assert _serials(runner, "--user", "bob@example.com") == {p["bob"]}
    assert _serials(runner, "--user", ALICE, "--status", "issued") == {p["live"]}
    assert _serials(runner, "--status", "issued") == {p["live"], p["bob"]}
    assert _serials(runner, "--status", "expired") == {p["expired"]}
    assert _serials(runner, "--status", "revoked") == {p["revoked"]}
    assert _serials(runner, "--company", OTHER_EIC, "--status", "revoked") == set()


def test_cert_list_csv_and_table(runner, populated):
    rows = list(csv.DictReader(io.StringIO(ok(run(runner, "cert", "list", "--format", "csv", "--company", EIC)))))
    assert REQUIRED_FIELDS <= set(rows[0])
    assert {r["serial"]: r["status"] for r in rows} == {
        populated["live"]: "issued", populated["expired"]: "expired", populated["revoked"]: "revoked"}
    table = ok(run(runner, "cert", "list", "--user", "bob@example.com")).splitlines()
    assert table[0].split()[:2] == ["serial", "status"]
    assert len(table) == 2 and table[1].split()[:2] == [populated["bob"], "issued"]


@pytest.mark.parametrize(("args", "fragments"), [
    (["--company", "10XFR-RTE------R"], ("no company",)),
    (["--user", "nobody@example.com"], ("no user",)),
])
def test_cert_list_unknown_filter(runner, runtime, args, fragments):
    before = snapshot(runtime)
    refused(run(runner, "cert", "list", *args), *fragments)
    assert snapshot(runtime) == before


def _colons(serial: str) -> str:
    return ":".join(serial[i:i + 2] for i in range(0, len(serial), 2))


def test_cert_show_any_serial_spelling(runner, populated):
    serial = populated["live"]
    for spelling in (serial, serial.upper(), _colons(serial), _colons(serial).upper(), f"  {serial} "):
        shown = as_json(run(runner, "cert", "show", spelling, "--format", "json"))
        assert shown["serial"] == serial and REQUIRED_FIELDS <= set(shown)


def test_cert_show_formats(runner, populated):
    serial = populated["live"]
    pem = ok(run(runner, "cert", "show", _colons(serial).upper(), "--format", "pem"))
    assert pem.encode() == populated["live_pem"].read_bytes()
    textual = ok(run(runner, "cert", "show", serial))
    assert re.search(rf"^serial\s+{serial}$", textual, re.M)
    assert re.search(r"^status\s+issued$", textual, re.M) and re.search(r"^revoked_at\s+-$", textual, re.M)
    revoked = as_json(run(runner, "cert", "show", populated["revoked"], "--format", "json"))
    assert revoked["status"] == "revoked"


@pytest.mark.parametrize(("serial", "fragments"), [
    ("0123456789abcdef", ("no certificate", "0123456789abcdef")),
    ("not-hex", ("not a certificate serial",)),
])
def test_cert_show_unknown_serial(runner, runtime, serial, fragments):
    before = snapshot(runtime)
    refused(run(runner, "cert", "show", serial), *fragments)
    assert snapshot(runtime) == before


# --- audit -------------------------------------------------------------------------------------------------
def _audit_count(runner) -> int:
    out = ok(run(runner, "audit", "verify"))
    return int(re.match(r"audit trail intact: (\d+) events\nanchor: \d+:[0-9a-f]{64}\n\Z", out).group(1))


def _drop_append_only_triggers(connection) -> None:
    """What an attacker with database access does first."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TRIGGER audit_events_no_change ON audit_events")
    else:
        connection.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        connection.exec_driver_sql("DROP TRIGGER audit_events_no_delete")


@pytest.fixture
def audited(runner, runtime, tmp_path) -> int:
    """A trail of a few events made through the CLI; returns the event count."""
    ok(run(runner, "company", "create", "--eic", OTHER_EIC, "--name", "RTE"))
    ok(run(runner, "user", "create", "--email", "bob@example.com", "--name", "Bob", "--company", OTHER_EIC))
    issue(runner, tmp_path, "leaf", user="bob@example.com")
    return _audit_count(runner)


def test_audit_verify_counts_every_event(runner, runtime, audited):
    assert audited == snapshot(runtime)["audit_events"] >= 6


TAMPERING = {
    "actor": "operator:mallory",
    "details": '{"name":"Someone Else"}',
    "action": "company.deleted",
    "object_id": "10XFR-RTE------R",
    "company_id": 99,
    "source_ip": "203.0.113.7",
    "at": datetime(2026, 1, 1, tzinfo=UTC),
    "prev_hash": "f" * 64,
    "hash": "0" * 64,
}


@pytest.mark.parametrize("column", sorted(TAMPERING))
def test_audit_verify_names_the_edited_row(runner, runtime, audited, column):
    target = 4  # in the middle of the chain: the company made through the CLI
    with runtime.engine.begin() as connection:
        _drop_append_only_triggers(connection)
        value = TAMPERING[column]
        if column == "at":
            value = connection.execute(
                text("SELECT at FROM audit_events WHERE id = :id"), {"id": target}).scalar_one()
            value = (value if isinstance(value, datetime) else datetime.fromisoformat(value)) + timedelta(seconds=1)
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
        changed = connection.execute(update(AuditEvent).where(AuditEvent.id == target).values({column: value}))
        assert changed.rowcount == 1
    result = run(runner, "audit", "verify")
    assert result.exit_code != 0 and result.stdout == ""
    named = {int(n) for n in re.findall(r"\bevent (\d+)", result.stderr)}
    assert target in named
    # Only a hash edit also breaks the next link; any other column names exactly the edited row.
    assert named == ({target, target + 1} if column == "hash" else {target})
    assert all(line.startswith("error: ") for line in result.stderr.splitlines())


def test_audit_verify_finds_an_edited_last_row(runner, runtime, audited):
    with runtime.engine.begin() as connection:
        _drop_append_only_triggers(connection)
        connection.execute(update(AuditEvent).where(AuditEvent.id == audited).values(details="{}"))
    result = run(runner, "audit", "verify")
    assert result.exit_code != 0
    assert {int(n) for n in re.findall(r"\bevent (\d+)", result.stderr)} == {audited}


def test_audit_verify_finds_a_deleted_row(runner, runtime, audited):
    with runtime.engine.begin() as connection:
        _drop_append_only_triggers(connection)
        connection.execute(text("DELETE FROM audit_events WHERE id = 3"))
    result = run(runner, "audit", "verify")
    assert result.exit_code != 0 and re.search(r"\bevent 3\b", result.stderr)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET actor = 'operator:mallory' WHERE id = 2",
    "DELETE FROM audit_events WHERE id = 2",
    "DELETE FROM audit_events",
])
def test_audit_table_refuses_update_and_delete(runner, runtime, audited, statement):
    before = snapshot(runtime)
    with pytest.raises(DBAPIError, match="append-only"), runtime.engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert snapshot(runtime) == before
    assert _audit_count(runner) == audited


# --- root ceremonies ---------------------------------------------------------------------------------------
@pytest.fixture
def offline(tmp_path) -> tuple[CliRunner, Path]:
    """A runner for the offline root: its settings point at a ledger that must never be created."""
    ledger = tmp_path / "never" / "ledger.sqlite3"
    runner = CliRunner(env={"PKI_DATABASE__URL": f"sqlite:///{ledger}", "PKI_ROOT__DIR": str(tmp_path / "unused"),
                            "PKI_CA__KEY_DIR": str(tmp_path / "never" / "keys")})
    yield runner, tmp_path
    assert not (tmp_path / "never").exists() and not (tmp_path / "unused").exists()


def _passphrase(tmp_path: Path, value: bytes = PASSPHRASE, name: str = "pass") -> Path:
    return write(tmp_path / name, value + b"\n")


def _root_init(runner, directory: Path, passphrase: Path, *extra: str) -> Result:
    return run(runner, "root", "init", "--root-dir", directory, "--subject", "CN=CLI Root,O=Portail Tests,C=FR",
               "--passphrase-file", passphrase, *extra)


def _issuer_csr(tmp_path: Path, name: str = "issuer.csr") -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CLI Issuing CA")]))
           .sign(key, hashes.SHA256()))
    return write(tmp_path / name, csr.public_bytes(serialization.Encoding.PEM))


def test_root_init_creates_the_root_and_refuses_to_overwrite(offline):
    runner, tmp = offline
    root_dir = tmp / "root"
    ok(_root_init(runner, root_dir, _passphrase(tmp), "--validity-years", "25"))
    cert = x509.load_pem_x509_certificate((root_dir / "root.crt").read_bytes())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert (root_dir / "root.key.pem").stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (root_dir / "root.key.pem").read_bytes()
    files = {p.name: p.read_bytes() for p in root_dir.iterdir()}
    refused(_root_init(runner, root_dir, _passphrase(tmp)), "overwrite")
    assert {p.name: p.read_bytes() for p in root_dir.iterdir()} == files
    refused(_root_init(runner, tmp / "other", _passphrase(tmp), "--validity-years", "26"), "25")
    assert not (tmp / "other").exists()


def test_root_init_short_passphrase(offline):
    runner, tmp = offline
    refused(_root_init(runner, tmp / "root", _passphrase(tmp, b"short")), "passphrase", "12")
    refused(_root_init(runner, tmp / "root", tmp / "absent"), "passphrase file not found")
    assert not (tmp / "root").exists()


def test_root_sign_issuer_wrong_passphrase(offline):
    runner, tmp = offline
    root_dir = tmp / "root"
    ok(_root_init(runner, root_dir, _passphrase(tmp)))
    index = (root_dir / "index.jsonl").read_bytes()
    out = tmp / "issuer.crt"
    line = refused(run(runner, "root", "sign-issuer", "--root-dir", root_dir, "--csr", _issuer_csr(tmp),
                       "--out", out, "--passphrase-file", _passphrase(tmp, b"a-wrong-passphrase", "wrong")),
                   "wrong passphrase")
    assert "Traceback" not in line
    assert not out.exists() and (root_dir / "index.jsonl").read_bytes() == index


def test_root_sign_issuer_never_beyond_the_root(offline):
    runner, tmp = offline
    root_dir, passphrase = tmp / "root", _passphrase(tmp)
    ok(_root_init(runner, root_dir, passphrase, "--validity-years", "2"))
    root = x509.load_pem_x509_certificate((root_dir / "root.crt").read_bytes())
    out = tmp / "issuer.crt"
    ok(run(runner, "root", "sign-issuer", "--root-dir", root_dir, "--csr", _issuer_csr(tmp), "--out", out,
           "--passphrase-file", passphrase, "--validity-years", "8"))
    issuer = x509.load_pem_x509_certificate(out.read_bytes())
    issuer.verify_directly_issued_by(root)
    assert issuer.not_valid_after_utc == root.not_valid_after_utc
    constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    signed = [json.loads(line) for line in (root_dir / "index.jsonl").read_text().splitlines()]
    assert [e["serial"] for e in signed][-1] == f"{issuer.serial_number:x}".zfill(len(signed[-1]["serial"]))
    index = (root_dir / "index.jsonl").read_bytes()
    refused(run(runner, "root", "sign-issuer", "--root-dir", root_dir, "--csr", _issuer_csr(tmp, "2.csr"),
                "--out", tmp / "i2.crt", "--passphrase-file", passphrase, "--validity-years", "9"), "8 years")
    refused(run(runner, "root", "sign-issuer", "--root-dir", root_dir, "--csr", _issuer_csr(tmp, "3.csr"),
                "--out", out, "--passphrase-file", passphrase), "overwrite")
    assert (root_dir / "index.jsonl").read_bytes() == index and not (tmp / "i2.crt").exists()


def test_root_crl_and_show(offline):
    runner, tmp = offline
    root_dir, passphrase = tmp / "root", _passphrase(tmp)
    ok(_root_init(runner, root_dir, passphrase))
    ok(run(runner, "root", "crl", "--root-dir", root_dir, "--out", tmp / "root.crl", "--passphrase-file", passphrase))
    crl = x509.load_der_x509_crl((tmp / "root.crl").read_bytes())
    root = x509.load_pem_x509_certificate((root_dir / "root.crt").read_bytes())
    assert crl.is_signature_valid(root.public_key())
    assert crl.next_update_utc - crl.last_update_utc <= timedelta(days=365)
    refused(run(runner, "root", "crl", "--root-dir", root_dir, "--out", tmp / "root.crl", "--passphrase-file",
                passphrase), "overwrite")
    shown = json.loads(ok(run(runner, "root", "show", "--root-dir", root_dir)))
    assert shown["subject"] == root.subject.rfc4514_string() and shown["crl_number"] == 1


# --- issuers -----------------------------------------------------------------------------------------------
def _issuers(runner, env) -> dict[str, str]:
    return {i["name"]: i["status"] for i in as_json(run(runner, "issuer", "list", "--format", "json", env=env))}


def test_issuer_ceremony_create_sign_install_issue(runner, runtime, session_pki, tmp_path):
    passphrase = _passphrase(tmp_path, b"another issuer passphrase")
    env = {"PKI_CA__KEY_DIR": str(tmp_path / "keys"), "PKI_CA__PASSPHRASE_FILE": str(passphrase)}
    root_dir = tmp_path / "root"
    ok(_root_init(runner, root_dir, _passphrase(tmp_path, name="root.pass")))
    csr = tmp_path / "issuing-2.csr"
    ok(run(runner, "issuer", "create", "--name", "issuing-2", "--subject", "CN=Issuing CA 2,O=Portail Tests,C=FR",
           "--out-csr", csr, "--passphrase-file", passphrase, env=env))
    assert (tmp_path / "keys" / "issuing-2.key.pem").stat().st_mode & 0o777 == 0o600
    cert = tmp_path / "issuing-2.crt"
    ok(run(runner, "root", "sign-issuer", "--root-dir", root_dir, "--csr", csr, "--out", cert,
           "--passphrase-file", tmp_path / "root.pass"))
    before, issuers_before = snapshot(runtime), _issuers(runner, env)
    assert issuers_before == {session_pki.issuer_name: "active"}
    # A certificate for another key (the session issuer's), and the right one under the wrong root.
    refused(run(runner, "issuer", "install", "--name", "issuing-2", "--cert", session_pki.issuer_pem,
                "--root-cert", session_pki.root_pem, env=env), "not the key of issuer")
    refused(run(runner, "issuer", "install", "--name", "issuing-2", "--cert", cert,
                "--root-cert", session_pki.root_pem, env=env), "not signed by the given root")
    refused(run(runner, "issuer", "install", "--name", "issuing-2", "--cert", root_dir / "root.crt",
                "--root-cert", root_dir / "root.crt", env=env), "not the key of issuer")
    # The key was made with another passphrase than the service's ca.passphrase_file: it could never sign.
    other = {**env, "PKI_CA__PASSPHRASE_FILE": str(_passphrase(tmp_path, b"not the issuer passphrase", "other"))}
    refused(run(runner, "issuer", "install", "--name", "issuing-2", "--cert", cert,
                "--root-cert", root_dir / "root.crt", env=other), "cannot unlock", "wrong passphrase")
    assert snapshot(runtime) == before and _issuers(runner, env) == issuers_before
    ok(run(runner, "issuer", "install", "--name", "issuing-2", "--cert", cert, "--root-cert", root_dir / "root.crt",
           env=env))
    assert _issuers(runner, env) == {session_pki.issuer_name: "retired", "issuing-2": "active"}
    refused(run(runner, "issuer", "install", "--name", "issuing-2", "--cert", cert, "--root-cert",
                root_dir / "root.crt", env=env), "already installed")
    out = tmp_path / "leaf.pem"
    ok(run(runner, "cert", "issue", "--csr", write(tmp_path / "leaf.csr", good_csr("ec-p256")[1]), "--user", ALICE,
           "--out", out, env=env))
    leaf = x509.load_pem_x509_certificate(out.read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(cert.read_bytes()))
    assert as_json(run(runner, "cert", "show", f"{leaf.serial_number:x}", "--format", "json"))["issuer"] == "issuing-2"


def test_issuer_create_refusals(runner, runtime, tmp_path):
    env = {"PKI_CA__KEY_DIR": str(tmp_path / "keys")}
    before = snapshot(runtime)
    csr = write(tmp_path / "exists.csr", "keep me\n")
    args = ["issuer", "create", "--subject", "CN=Issuing CA 2,C=FR", "--passphrase-file"]
    refused(run(runner, *args, _passphrase(tmp_path), "--name", "issuing-2", "--out-csr", csr, env=env), "overwrite")
    refused(run(runner, *args, _passphrase(tmp_path, b"short", "short"), "--name", "issuing-2",
                "--out-csr", tmp_path / "a.csr", env=env), "passphrase too short")
    refused(run(runner, *args, _passphrase(tmp_path), "--name", "../evil", "--out-csr", tmp_path / "b.csr", env=env),
            "invalid issuer name")
    assert csr.read_text() == "keep me\n"
    assert not (tmp_path / "keys").exists() or not any((tmp_path / "keys").iterdir())
    assert snapshot(runtime) == before


# --- quickstart --------------------------------------------------------------------------------------------
def test_quickstart_resumes_a_ceremony_stopped_before_install(tmp_path):
    """A run that stopped after making the issuer key: the next one installs that key, then nothing changes."""
    env = {"PKI_DATABASE__URL": f"sqlite:///{tmp_path / 'var' / 'ledger.sqlite3'}",
           "PKI_CA__KEY_DIR": str(tmp_path / "var" / "keys"),
           "PKI_CA__PASSPHRASE_FILE": str(tmp_path / "var" / "secrets" / "issuer.passphrase"),
           "PKI_ROOT__DIR": str(tmp_path / "root-ca"), "PKI_REPOSITORY__CRL_DIR": str(tmp_path / "var" / "crl")}
    runner = CliRunner(env=env)
    (tmp_path / "var" / "secrets").mkdir(parents=True)
    passphrase = write(tmp_path / "var" / "secrets" / "issuer.passphrase", PASSPHRASE)
    ok(run(runner, "db", "upgrade"))  # commands other than quickstart need a ledger (issue 10)
    ok(run(runner, "issuer", "create", "--name", "issuing-ca-1", "--subject", "CN=Stopped,C=FR", "--out-csr",
           tmp_path / "stopped.csr", "--passphrase-file", passphrase))
    key_file = tmp_path / "var" / "keys" / "issuing-ca-1.key.pem"
    key_bytes = key_file.read_bytes()
    first = ok(run(runner, "quickstart"))
    assert "issuer issuing-ca-1 created, signed by the root and installed" in first
    assert key_file.read_bytes() == key_bytes
    assert _issuers(runner, env) == {"issuing-ca-1": "active"}
    out = tmp_path / "leaf.pem"
    ok(run(runner, "cert", "issue", "--csr", write(tmp_path / "leaf.csr", good_csr("ec-p256")[1]),
           "--user", "admin@demo-producer.example", "--out", out))
    leaf = x509.load_pem_x509_certificate(out.read_bytes())
    public = serialization.load_pem_public_key((tmp_path / "var" / "keys" / "issuing-ca-1.pub.pem").read_bytes())
    public.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    events = _audit_count(runner)
    second = ok(run(runner, "quickstart"))
    assert "already set up: nothing to do" in second and "created" not in second.split("summary")[0]
    # Nothing is created again; only the two demo accounts' new one-time login links (each audited) are made,
    # since a link is shown once and the ledger keeps its hash only.
    assert len(re.findall(r"/activate/[A-Za-z0-9_-]{40,}", second)) == 2
    assert _audit_count(runner) == events + 2


# --- db and help -------------------------------------------------------------------------------------------
def test_db_upgrade_prints_the_head_revision(runner, runtime):
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert ok(run(runner, "db", "upgrade")) == f"ledger at revision {head}\n"
    assert ok(run(runner, "db", "upgrade")) == f"ledger at revision {head}\n"


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


CONTRACT = ["root init", "root sign-issuer", "root crl", "root show", "issuer create", "issuer install",
            "issuer list", "company create", "company list", "user create", "user list", "cert issue", "cert list",
            "cert show", "audit verify", "db upgrade", "quickstart", "serve"]


def test_every_command_has_help():
    runner = CliRunner()
    seen = []
    for path, command in _commands(cli):
        seen.append(" ".join(path))
        result = runner.invoke(cli, [*path, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, path
        description = (command.help or "").strip().splitlines()
        assert description and description[0].strip(), f"{' '.join(path)} has no description"
        assert description[0].strip()[:40] in " ".join(result.stdout.split()), path
    assert set(CONTRACT) <= set(seen)


@pytest.mark.parametrize("argv, fragment", [
    (("cert", "revoke", "01", "--reason", "nope"), "--reason"),
    (("cert", "frobnicate"), "no such command"),
    (("company", "create", "--eic", "10XFR-RTE------Q"), "--name"),
    (("serve", "portal", "--threads", "0"), "--threads"),
])
def test_usage_errors_are_one_line_too(runner, runtime, argv, fragment):
    """A usage error is a refusal like any other: exactly one `error:` line, a non-zero exit, no change."""
    before = snapshot(runtime)
    line = refused(run(runner, *argv), fragment)
    assert "--help" in line
    assert snapshot(runtime) == before

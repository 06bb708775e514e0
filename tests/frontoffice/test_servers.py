"""The gate end to end: `pkictl serve frontoffice` over real TLS (direct mode, cheroot + pyOpenSSL) and behind nginx
(proxy mode, with the shipped config), with curl as the client.

One ledger per module: a company, its people and groups, and one certificate per case of the matrix, built
before the servers start (so the client CA bundle holds every issuer). Issuer history: `test-issuer`
(retired), then `fo-removed` (installed, used, then marked removed), then `fo-current` (active).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from ca import root as root_ca
from ca.issuer import create_issuer_key, key_path
from ca.keys.filekey import load_private_key
from ca.ledger.models import AuditEvent, CertificateRecord, IssuerRecord
from ca.lifecycle import issuers
from ca.revoke import revoke_certificate
from ca.runtime import build_runtime
from ca.settings import load_settings
from ca.x509.names import parse_dn
from ca.x509.reasons import REASON_CODES
from cli.main import cli
from tests.frontoffice.servers import (
    Answer,
    curl,
    escaped_pem,
    frontoffice_environ,
    nginx_config,
    start_frontoffice,
    start_nginx,
)
from tests.frontoffice.world import OPERATOR, Holder, World, build_world
from tests.support.pki import PASSPHRASE, SessionPKI
from tests.support.server import Server, free_port, stop_server
from tests.support.tools import require_tool

PORTAL = "https://portal.example.test"
REASONS = sorted(REASON_CODES)


@dataclass
class Stack:
    world: World
    environ: dict[str, str]
    base: Path
    holders: dict[str, Holder]
    direct: Server
    backend: Server
    nginx: Server
    extra: list[Server] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.world.pki.root_pem

    def url(self, mode: str, path: str) -> str:
        server = self.direct if mode == "direct" else self.nginx
        return f"https://127.0.0.1:{server.port}{path}"

    def get(self, mode: str, path: str, holder: str | None, **kwargs: object) -> Answer:
        return curl(self.url(mode, path), holder=self.holders[holder] if holder else None, cacert=self.root,
                    **kwargs)  # type: ignore[arg-type]


def _new_issuer(world: World, name: str) -> None:
    key_dir = world.runtime.settings.ca.key_dir
    csr = create_issuer_key(key_dir, name, parse_dn(f"CN={name},O=Portail Tests,C=FR"), "ec-p256", PASSPHRASE)
    certificate = root_ca.sign_issuer(world.pki.root_dir, csr_data=csr, passphrase=PASSPHRASE, validity_years=5,
                                      now=world.runtime.clock.now() - timedelta(days=1))
    issuers.install_issuer(world.runtime, OPERATOR, name=name, certificate=certificate, root=world.pki.root)


def _holders(world: World, foreign_pki: SessionPKI) -> dict[str, Holder]:
    now = world.runtime.clock.now()
    h: dict[str, Holder] = {"retired": world.issue("retired", "bob@example.com")}
    _new_issuer(world, "fo-removed")
    h["removed"] = world.issue("removed", "bob@example.com", issuer_name="fo-removed")
    _new_issuer(world, "fo-current")
    world.issuer_name = "fo-current"
    with world.runtime.sessionmaker.begin() as session:
        session.execute(select(IssuerRecord).where(IssuerRecord.name == "fo-removed")).scalar_one().status = "removed"
    for name in ("bob", "alice", "carol", "frank", "dave", "erin", "heidi"):
        h[name] = world.issue(name, f"{name}@example.com")
    h["revoke-me"] = world.issue("revoke-me", "grace@example.com")
    h["last-use"] = world.issue("last-use", "grace@example.com")
    for reason in REASONS:
        h[f"revoked-{reason}"] = world.issue(f"revoked-{reason}", "grace@example.com")
        revoke_certificate(world.runtime, OPERATOR, serial=h[f"revoked-{reason}"].serial, reason=reason)
    world.set_user("dave@example.com", status="deactivated")
    world.set_user("heidi@example.com", status="pending")
    world.set_user("erin@example.com", company_id=world.other_company_id())
    h["expired"] = world.forge("expired", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    h["not-yet-valid"] = world.forge("not-yet-valid", not_before=now + timedelta(days=1))
    h["server-eku"] = world.forge("server-eku", eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    h["no-eku"] = world.forge("no-eku", eku=None)
    h["ca-leaf"] = world.forge("ca-leaf", ca=True)
    h["orphan"] = world.forge("orphan")
    h["pending-row"] = world.forge("pending-row")
    for name in ("expired", "not-yet-valid", "server-eku", "no-eku", "ca-leaf"):
        world.record(h[name])
    world.record(h["orphan"], email=None)
    world.record(h["pending-row"], status="pending")
    h["unknown-serial"] = world.forge("unknown-serial")
    h["twin"] = world.forge("twin", serial_number=h["bob"].certificate.serial_number)
    foreign_key = load_private_key(key_path(foreign_pki.key_dir, foreign_pki.issuer_name), PASSPHRASE)
    h["foreign"] = world.forge("foreign", issuer=foreign_pki.issuer, issuer_key=foreign_key)  # type: ignore[arg-type]
    h["self-signed"] = world.forge("self-signed", self_signed=True)
    return h


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, session_pki: SessionPKI,
          foreign_pki: SessionPKI) -> Iterator[Stack]:
    require_tool("curl")
    require_tool("nginx")
    base = tmp_path_factory.mktemp("frontoffice")
    environ = frontoffice_environ(base, session_pki, portal_url=PORTAL)
    runtime = build_runtime(load_settings(None, environ))
    started: list[Server] = []
    try:
        world = build_world(runtime, session_pki, base / "certs")
        holders = _holders(world, foreign_pki)
        direct = start_frontoffice(environ, base / "logs", mode="direct", workers=2)
        started.append(direct)
        proxy_env = {**environ, "PKI_FRONTOFFICE__CLIENT_CA_FILE": str(base / "fo" / "nginx-client-ca.pem")}
        backend = start_frontoffice(proxy_env, base / "logs", mode="proxy")
        started.append(backend)
        port = free_port()
        conf = nginx_config(base / "nginx", port=port, backend_port=backend.port,
                            chain=base / "fo" / "server-chain.pem", key=base / "fo" / "server.key.pem",
                            passphrase=base / "fo" / "server.passphrase",
                            client_ca=base / "fo" / "nginx-client-ca.pem")
        nginx = start_nginx(base / "nginx", conf, port)
        started.append(nginx)
        stack = Stack(world=world, environ=environ, base=base, holders=holders, direct=direct, backend=backend,
                      nginx=nginx)
        yield stack
        started.extend(stack.extra)
    finally:
        for server in reversed(started):
            stop_server(server)
        runtime.close()


# --- the matrix ----------------------------------------------------------------------------------------
# (case, certificate, path, expected directly, expected through nginx). "tls": no HTTP answer at all, the
# TLS layer refused the connection (no certificate, in the strict setting); "403:<code>": the gate's refusal
# page with that machine code. In direct mode a certificate that fails TLS verification (expired, another
# CA, a removed issuer) reaches the gate too (pyOpenSSL's verify callback, webapp/frontoffice/direct_tls.py).
MATRIX = [
    ("valid-home", "bob", "/", "200", "200"),
    ("valid-service", "bob", "/services/markets", "200", "200"),
    ("valid-connection-point", "bob", "/services/markets/points/PDL-001", "200", "200"),
    ("valid-other-group", "alice", "/services/metering", "200", "200"),
    ("connection-point-outside-perimeter", "bob", "/services/markets/points/PDL-003", "403:outside_perimeter",
     "403:outside_perimeter"),
    ("service-not-granted", "bob", "/services/metering", "403:service_not_granted", "403:service_not_granted"),
    ("unknown-service", "bob", "/services/nope", "404:unknown_service", "404:unknown_service"),
    ("user-in-no-group-home", "carol", "/", "200", "200"),
    ("user-in-no-group-service", "carol", "/services/markets", "403:service_not_granted",
     "403:service_not_granted"),
    ("group-without-the-service", "frank", "/services/losses", "403:service_not_granted",
     "403:service_not_granted"),
    ("user-deactivated", "dave", "/", "403:account_inactive", "403:account_inactive"),
    ("user-not-active-yet", "heidi", "/", "403:account_inactive", "403:account_inactive"),
    ("user-detached", "erin", "/", "403:detached", "403:detached"),
    *[(f"revoked-{r}", f"revoked-{r}", "/", "403:revoked", "403:revoked") for r in REASONS],
    ("expired", "expired", "/", "403:expired", "403:expired"),
    ("not-yet-valid", "not-yet-valid", "/", "403:not_yet_valid", "403:not_yet_valid"),
    ("unknown-serial-under-our-issuer", "unknown-serial", "/", "403:unknown_certificate",
     "403:unknown_certificate"),
    ("our-serial-other-certificate", "twin", "/", "403:unknown_certificate", "403:unknown_certificate"),
    ("row-never-issued", "pending-row", "/", "403:unknown_certificate", "403:unknown_certificate"),
    ("certificate-without-holder", "orphan", "/", "403:no_holder", "403:no_holder"),
    ("foreign-ca", "foreign", "/", "403:unknown_issuer", "403:unknown_issuer"),
    ("self-signed", "self-signed", "/", "403:unknown_issuer", "403:unknown_issuer"),
    ("eku-without-client-auth", "server-eku", "/", "403:wrong_usage", "403:wrong_usage"),
    ("no-eku", "no-eku", "/", "403:wrong_usage", "403:wrong_usage"),
    ("ca-certificate-as-leaf", "ca-leaf", "/", "403:wrong_usage", "403:wrong_usage"),
    ("retired-issuer-still-valid", "retired", "/services/markets", "200", "200"),
    ("removed-issuer", "removed", "/", "403:issuer_removed", "403:issuer_removed"),
    ("no-client-certificate", None, "/", "tls", "403:no_certificate"),
]


@pytest.mark.parametrize("mode", ["direct", "nginx"])
@pytest.mark.parametrize(("case", "holder", "path", "direct", "nginx"), MATRIX, ids=[m[0] for m in MATRIX])
def test_gate_matrix(stack, mode, case, holder, path, direct, nginx):
    answer = stack.get(mode, path, holder)
    expected = direct if mode == "direct" else nginx
    assert answer.outcome == expected, f"{case} via {mode}: {answer}"
    if expected == "tls":
        assert answer.curl_exit != 0
    elif expected == "200":
        assert answer.json["full_name"] and answer.json["eic"] == "10XDEMO-PRODUCE2"
    else:
        refusal = answer.json
        assert refusal["message"] and refusal["action"] and refusal["portal_url"] == PORTAL


@pytest.mark.parametrize("mode", ["direct", "nginx"])
def test_forged_certificate_header_is_ignored(stack, mode):
    """dave (deactivated) connects with his certificate and a header claiming bob's: dave is judged."""
    header = f"X-SSL-Client-Cert: {escaped_pem(stack.holders['bob'])}"
    answer = stack.get(mode, "/", "dave", headers=[header, "X-SSL-Client-Verify: SUCCESS"])
    assert answer.outcome == "403:account_inactive"


def test_forged_proxy_header_from_a_non_proxy_address(stack):
    """Straight to the plain-HTTP backend from 127.0.0.2 (not a trusted proxy), with bob's certificate."""
    headers = [f"X-SSL-Client-Cert: {escaped_pem(stack.holders['bob'])}", "X-SSL-Client-Verify: SUCCESS"]
    answer = curl(f"http://127.0.0.1:{stack.backend.port}/", headers=headers, source="127.0.0.2")
    assert answer.outcome == "403:no_certificate", answer
    with stack.world.runtime.sessionmaker() as session:
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "gate.refused",
                                                         AuditEvent.source_ip == "127.0.0.2")).scalars().first()
    assert event is not None and "not a trusted proxy" in json.loads(event.details)["tls_error"]


# --- acceptance: curl, pages, TLS parameters -------------------------------------------------------------
@pytest.mark.parametrize("mode", ["direct", "nginx"])
def test_curl_sees_name_and_only_permitted_services_and_points(stack, mode):
    answer = stack.get(mode, "/services/markets", "bob", accept="text/html")
    assert answer.status == 200, answer
    page = answer.body
    for expected in ("Bob Trader", "Demo Producer", "10XDEMO-PRODUCE2", "Market access",
                     "Interconnection capacity auctions", "PDL-001", "Poste Nord", "PDL-002"):
        assert expected in page
    for hidden in ("PDL-003", "Compteur Est", "Metering data", "Loss compensation"):
        assert hidden not in page
    home = stack.get(mode, "/", "carol", accept="text/html")
    # curl sends no Accept-Language: the site default, French (issue 15 item 1).
    assert home.status == 200 and "Carol Nogroup" in home.body and "Aucun service ne vous a encore" in home.body


def test_without_certificate_the_strict_handshake_fails(stack):
    answer = stack.get("direct", "/", None)
    assert answer.status == 0 and answer.curl_exit in (35, 56), answer


@pytest.mark.parametrize(("holder", "code", "tls_error"), [
    ("expired", "expired", "certificate has expired (X509 error 10 at depth 0)"),
    ("foreign", "unknown_issuer", "(X509 error 20 at depth 0)"),
    ("self-signed", "unknown_issuer", "self-signed certificate (X509 error 18 at depth 0)"),
])
def test_certificates_failing_tls_verification_get_the_page_and_an_audit_event(stack, holder, code, tls_error):
    """Direct mode, issue 15 item 5: the handshake completes, OpenSSL's verdict rides with the connection,
    and the gate refuses with the page (HTML) and a `gate.refused` event naming the X.509 error."""
    sha256 = hashlib.sha256(stack.holders[holder].der).hexdigest()
    answer = stack.get("direct", "/", holder, accept="text/html")
    assert answer.status == 403, answer
    # curl sends no Accept-Language: the site default, French (issue 15 item 1).
    assert "Accès refusé" in answer.body and f'data-code="{code}"' in answer.body
    assert f'href="{PORTAL}"' in answer.body
    with stack.world.runtime.sessionmaker() as session:
        events = session.execute(select(AuditEvent).where(AuditEvent.action == "gate.refused")).scalars().all()
    details = [json.loads(e.details) for e in events]
    mine = [d for d in details if d.get("sha256") == sha256 and d["reason"] == code
            and "X509 error" in d.get("tls_error", "")]
    assert mine and tls_error in mine[-1]["tls_error"], details[-3:]


def test_refusal_pages_explain_in_html(stack):
    answer = stack.get("nginx", "/", "revoked-keyCompromise", accept="text/html")
    assert answer.status == 403 and "text/html" not in answer.body[:0]
    # curl sends no Accept-Language: the site default of config/default.toml, French (issue 15 item 1).
    assert "Ce certificat a été révoqué le" in answer.body and f'href="{PORTAL}"' in answer.body
    assert "Demandez-en un nouveau sur" in answer.body and '<html lang="fr">' in answer.body
    none = stack.get("nginx", "/", None, accept="text/html,application/xhtml+xml")
    assert none.status == 403 and "présenté aucun certificat client" in none.body


def test_tls_parameters(stack):
    assert stack.get("direct", "/", "bob", extra=["--tlsv1.2", "--tls-max", "1.2"]).status == 200
    old = stack.get("direct", "/", "bob", extra=["--tlsv1", "--tls-max", "1.1"])
    assert old.status == 0, old
    openssl = require_tool("openssl")
    result = subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{stack.direct.port}", "-showcerts", "-CAfile",
         str(stack.root), "-cert", str(stack.holders["bob"].cert_file), "-key", str(stack.holders["bob"].key_file)],
        input="", capture_output=True, text=True, timeout=20)
    assert result.stdout.count("-----BEGIN CERTIFICATE-----") == 2  # the leaf and our issuer, not the root
    assert "Verify return code: 0 (ok)" in result.stdout
    assert "CN = fo-current" in result.stdout


# --- revocation and last use ------------------------------------------------------------------------------
def test_revocation_is_refused_within_one_second(stack):
    holder = stack.holders["revoke-me"]
    assert stack.get("direct", "/", "revoke-me").status == 200
    result = CliRunner(env=stack.environ).invoke(cli, ["cert", "revoke", holder.serial, "--reason", "superseded"])
    assert result.exit_code == 0, result.output
    revoked_at = time.monotonic()
    while True:
        answer = stack.get("direct", "/", "revoke-me")
        elapsed = time.monotonic() - revoked_at
        if answer.status == 403:
            break
        assert answer.status == 200 and elapsed < 2, answer
    assert answer.outcome == "403:revoked"
    assert elapsed <= 1.0, f"refused only after {elapsed:.3f} s"
    assert stack.get("nginx", "/", "revoke-me").outcome == "403:revoked"


def test_last_used_at_is_recorded_once_per_interval(stack):
    holder = stack.holders["last-use"]

    def last_used():
        with stack.world.runtime.sessionmaker() as session:
            return session.execute(select(CertificateRecord.last_used_at).where(
                CertificateRecord.serial == holder.serial)).scalar_one()

    assert last_used() is None
    assert stack.get("direct", "/", "last-use").status == 200
    first = last_used()
    assert first is not None
    for mode in ("direct", "nginx", "direct", "nginx"):  # other workers, other processes: no rewrite
        assert stack.get(mode, "/", "last-use").status == 200
    assert last_used() == first


def test_missing_certificate_page_mode(stack):
    """The default (issue 15 item 5): curl without a certificate gets the 403 explanation page."""
    default = {k: v for k, v in stack.environ.items() if k != "PKI_FRONTOFFICE__MISSING_CERTIFICATE_PAGE"}
    server = start_frontoffice(default, stack.base / "logs")
    stack.extra.append(server)
    answer = curl(f"https://127.0.0.1:{server.port}/", cacert=stack.root)
    assert answer.outcome == "403:no_certificate", answer
    assert stack.get("direct", "/", None).status == 0  # the strict setting (false) still fails the handshake
    for holder, code in (("foreign", "unknown_issuer"), ("expired", "expired")):  # their pages, not a TLS error
        answer = curl(f"https://127.0.0.1:{server.port}/", holder=stack.holders[holder], cacert=stack.root)
        assert answer.outcome == f"403:{code}", answer
    assert curl(f"https://127.0.0.1:{server.port}/", holder=stack.holders["bob"], cacert=stack.root).status == 200

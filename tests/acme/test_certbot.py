"""certbot (Debian package), a client nobody here wrote, against `pkictl serve acme` over HTTPS: External
Account Binding, http-01 on `acme.http01_port` with `--standalone`, issue, renew, revoke (by the account
key and by the certificate key); the certificates verify with openssl, belong to the company in the
ledger, and OCSP says revoked afterwards (issue 12 acceptance)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from ca.actor import cli_operator
from ca.audit_trail import company_audit_trail
from tests.acme.clients import ledger_view, ocsp_status, openssl_verify, run, wait_in_crl
from tests.acme.conftest import AcmeWorld
from tests.conftest import EIC
from tests.support.tools import require_tool

NAME = "www.example.test"


def _certbot(world: AcmeWorld, base: Path, *args: object) -> str:
    certbot = require_tool("certbot")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(base), "REQUESTS_CA_BUNDLE": str(world.root_pem)}
    result = run(certbot, *args, "--non-interactive", "--config-dir", base / "config", "--work-dir", base / "work",
                 "--logs-dir", base / "logs", env=env, timeout=180)
    assert result.returncode == 0, f"certbot {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _issue(world: AcmeWorld, base: Path, *extra: object) -> str:
    return _certbot(world, base, "certonly", "--standalone", "--server", world.directory, "--agree-tos",
                    "-m", "ops@example.test", "--eab-kid", world.eab.kid, "--eab-hmac-key", world.eab.hmac_key,
                    "--http-01-port", world.http01_port, "--http-01-address", "127.0.0.1", "-d", NAME, *extra)


def test_certbot_issues_renews_and_revokes(acme_world: AcmeWorld, tmp_path: Path) -> None:
    base = tmp_path / "certbot"
    _issue(acme_world, base)
    live = base / "config" / "live" / NAME
    first = tmp_path / "first.pem"
    first.write_bytes((live / "cert.pem").read_bytes())
    first_key = tmp_path / "first.key"
    first_key.write_bytes((live / "privkey.pem").read_bytes())
    openssl_verify(acme_world, first)
    view = ledger_view(acme_world, first)
    assert view.status == "issued" and view.company == EIC and view.profile == "tls-server"
    leaf = x509.load_pem_x509_certificate(first.read_bytes())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [NAME]
    assert ocsp_status(acme_world, first) == "good"
    # The fullchain certbot saved is leaf + issuer, as served by the certificate URL.
    assert (live / "fullchain.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2

    # Renewal: an ordinary new order from the stored renewal configuration (same account, no EAB again).
    _certbot(acme_world, base, "renew", "--force-renewal", "--no-random-sleep-on-renew")
    second = tmp_path / "second.pem"
    second.write_bytes((live / "cert.pem").read_bytes())
    renewed = x509.load_pem_x509_certificate(second.read_bytes())
    assert renewed.serial_number != leaf.serial_number
    openssl_verify(acme_world, second)
    assert ledger_view(acme_world, second).company == EIC

    # Revocation by the account key (certbot's default), then of the first one by its own key.
    _certbot(acme_world, base, "revoke", "--cert-path", second, "--reason", "superseded", "--no-delete-after-revoke",
             "--server", acme_world.directory)
    assert ocsp_status(acme_world, second) == "revoked"
    assert ledger_view(acme_world, second).status == "revoked"
    _certbot(acme_world, base, "revoke", "--cert-path", first, "--key-path", first_key, "--reason", "keycompromise",
             "--no-delete-after-revoke", "--server", acme_world.directory)
    assert ocsp_status(acme_world, first) == "revoked"
    wait_in_crl(acme_world, first)
    wait_in_crl(acme_world, second)

    events = company_audit_trail(acme_world.runtime, cli_operator("pytest"), company_eic=EIC)
    actions = [e.action for e in events]
    for action in ("acme.account.created", "acme.order.created", "acme.challenge.valid", "certificate.issued",
                   "acme.order.valid", "certificate.revoked"):
        assert action in actions, actions

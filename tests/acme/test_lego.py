"""lego (Debian package), a second client nobody here wrote, with its own flags: External Account Binding
(`--eab --kid --hmac`), http-01 on `acme.http01_port` (`--http --http.port`), issue, renew, revoke by the
account key; openssl verifies the chain, the ledger has it under the company, OCSP says revoked after."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from tests.acme.clients import ledger_view, ocsp_status, openssl_verify, run
from tests.acme.conftest import AcmeWorld
from tests.conftest import EIC
from tests.support.tools import require_tool

NAME = "api.example.test"


def _lego(world: AcmeWorld, base: Path, *command: object, name: str = NAME, challenge: tuple[str, ...] = ()) -> str:
    lego = require_tool("lego")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(base), "LEGO_CA_CERTIFICATES": str(world.root_pem)}
    result = run(lego, "--server", world.directory, "--email", "ops@example.test", "--accept-tos",
                 "--eab", "--kid", world.eab.kid, "--hmac", world.eab.hmac_key, "--domains", name,
                 *(challenge or ("--http", "--http.port", f"127.0.0.1:{world.http01_port}")), "--path", base, *command,
                 env=env, timeout=180)
    assert result.returncode == 0, f"lego {command[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _leaf(base: Path, copy: Path, name: str = NAME) -> Path:
    """lego stores the bundle (leaf + issuer); keep the leaf alone for openssl."""
    bundle = (base / "certificates" / f"{name}.crt").read_bytes()
    certificates = x509.load_pem_x509_certificates(bundle)
    assert len(certificates) == 2
    copy.write_bytes(bundle.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n")
    return copy


def test_lego_issues_renews_and_revokes(acme_world: AcmeWorld, tmp_path: Path) -> None:
    base = tmp_path / "lego"
    _lego(acme_world, base, "run")
    first = _leaf(base, tmp_path / "first.pem")
    openssl_verify(acme_world, first)
    view = ledger_view(acme_world, first)
    assert view.status == "issued" and view.company == EIC

    _lego(acme_world, base, "renew", "--days", "3650", "--no-random-sleep")  # renew whatever is left
    second = _leaf(base, tmp_path / "second.pem")
    assert x509.load_pem_x509_certificate(second.read_bytes()).serial_number != \
        x509.load_pem_x509_certificate(first.read_bytes()).serial_number
    openssl_verify(acme_world, second)
    assert ledger_view(acme_world, second).company == EIC

    _lego(acme_world, base, "revoke", "--reason", "4", "--keep")
    assert ocsp_status(acme_world, second) == "revoked"
    revoked = ledger_view(acme_world, second)
    assert (revoked.status, revoked.revocation_reason) == ("revoked", "superseded")
    assert ocsp_status(acme_world, first) == "good"  # only the current one was revoked


def test_lego_with_tls_alpn_01(acme_world: AcmeWorld, tmp_path: Path) -> None:
    """RFC 8737: lego answers tls-alpn-01 on acme.tlsalpn01_port; the server reads the acmeIdentifier."""
    base, name = tmp_path / "lego-alpn", "www.example.test"
    challenge = ("--tls", "--tls.port", f"127.0.0.1:{acme_world.tlsalpn01_port}")
    _lego(acme_world, base, "run", name=name, challenge=challenge)
    leaf = _leaf(base, tmp_path / "alpn.pem", name)
    openssl_verify(acme_world, leaf)
    assert ledger_view(acme_world, leaf).company == EIC
    with acme_world.runtime.sessionmaker() as session:
        from sqlalchemy import select

        from ca.ledger.acme_models import AcmeChallenge

        kinds = {c.type: c.status for c in session.execute(select(AcmeChallenge)).scalars()}
    assert kinds == {"tls-alpn-01": "valid", "http-01": "pending"}

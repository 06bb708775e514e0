"""Shared checks of the client tests: openssl verify, openssl ocsp, and the ledger view of a certificate."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from cryptography import x509

from ca.actor import cli_operator
from ca.certificates import show_certificate
from ca.x509.serials import format_serial
from tests.acme.conftest import AcmeWorld
from tests.support.tools import require_tool


def run(*argv: object, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def openssl_verify(world: AcmeWorld, leaf: Path) -> None:
    result = run(require_tool("openssl"), "verify", "-CAfile", world.root_pem, "-untrusted", world.issuer_pem,
                 "-purpose", "sslserver", leaf)
    assert result.returncode == 0 and f"{leaf}: OK" in result.stdout, result.stdout + result.stderr


def ocsp_status(world: AcmeWorld, leaf: Path) -> str:
    result = run(require_tool("openssl"), "ocsp", "-issuer", world.issuer_pem, "-cert", leaf,
                 "-url", world.repository.url("/pki/ocsp"), "-CAfile", world.root_pem, "-no_nonce", "-timeout", "10")
    assert "Response verify OK" in result.stderr, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"{leaf}:"))
    return line.split(":", 1)[1].strip()


def ledger_view(world: AcmeWorld, leaf: Path):  # type: ignore[no-untyped-def]
    certificate = x509.load_pem_x509_certificate(leaf.read_bytes())
    return show_certificate(world.runtime, cli_operator("pytest"), format_serial(certificate.serial_number))


def wait_in_crl(world: AcmeWorld, leaf: Path, timeout: float = 60) -> None:
    """The repository's maintenance publishes a new CRL shortly after a revocation (DESIGN §5)."""
    certificate = x509.load_pem_x509_certificate(leaf.read_bytes())
    url = world.repository.url(f"/pki/crl/{world.issuer_name}.crl")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                crl = x509.load_der_x509_crl(response.read())
            if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"serial {certificate.serial_number:x} not in {url} after {timeout} s"
        time.sleep(0.25)

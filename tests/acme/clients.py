"""Shared checks of the client tests: openssl verify, openssl ocsp, and the ledger view of a certificate."""

from __future__ import annotations

import subprocess
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

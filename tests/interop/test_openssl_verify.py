"""A leaf issued by `pkictl cert issue` from an `openssl req` CSR verifies with `openssl verify` against the root,
the issuer given as untrusted intermediate (issue 2 acceptance). Keys are made by openssl at run time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from cli.main import cli
from tests.support.tools import require_tool

KEYS = {
    "rsa-2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "p-256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p-384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The ledger's backend does not change a certificate's bytes: SQLite only, to keep interop runs short."""
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


def _openssl(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([require_tool("openssl"), *map(str, args)], capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, f"openssl {' '.join(map(str, args))}: {result.stdout}{result.stderr}"
    return result


def _leaf_from_openssl_csr(runner, tmp_path: Path, key_type: str) -> Path:
    key, csr, leaf = tmp_path / f"{key_type}.key", tmp_path / f"{key_type}.csr", tmp_path / f"{key_type}.pem"
    _openssl("genpkey", *KEYS[key_type], "-out", key)
    _openssl("req", "-new", "-key", key, "-subj", "/CN=asked for by the CSR/O=Ignored", "-out", csr)
    result = runner.invoke(cli, ["cert", "issue", "--csr", str(csr), "--user", "alice@example.com",
                                 "--out", str(leaf)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return leaf


@pytest.mark.interop
@pytest.mark.parametrize("key_type", sorted(KEYS))
def test_openssl_verifies_leaf(runner, session_pki, tmp_path, key_type):
    leaf = _leaf_from_openssl_csr(runner, tmp_path, key_type)
    result = _openssl("verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", session_pki.root_pem,
                      "-untrusted", session_pki.issuer_pem, leaf)
    assert result.stdout.strip() == f"{leaf}: OK"
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    assert "asked for by the CSR" not in cert.subject.rfc4514_string()
    # The same leaf must not verify without its issuer, nor as a TLS server: the check can fail.
    assert _openssl("verify", "-CAfile", session_pki.root_pem, leaf, check=False).returncode != 0
    assert _openssl("verify", "-purpose", "sslserver", "-CAfile", session_pki.root_pem, "-untrusted",
                    session_pki.issuer_pem, leaf, check=False).returncode != 0

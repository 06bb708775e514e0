"""pkilint reports nothing at WARNING or above for the root, the issuer and a leaf of each profile, alone
(`lint_pkix_cert`) and as chains root→issuer and issuer→leaf (`lint_pkix_signer_signee_cert_chain`).

Their exit code is the number of findings at or above the threshold, so 0 means clean (REFERENCES.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ca.issuance import issue_certificate
from tests.support.tools import require_tool
from tests.vectors.bad_csrs import good_csr


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The ledger's backend does not change a certificate's bytes: SQLite only, to keep interop runs short."""
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


def _lint(tool: str, *files: Path) -> None:
    result = subprocess.run([require_tool(tool), "lint", "-s", "WARNING", *map(str, files)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"{tool} {' '.join(f.name for f in files)}:\n{result.stdout}{result.stderr}"


LEAVES = {
    "browser-ec-p256": dict(key_type="ec-p256", user_email="alice@example.com", profile_name="browser"),
    "browser-rsa-2048": dict(key_type="rsa-2048", user_email="alice@example.com", profile_name="browser"),
    "tls-server": dict(key_type="ec-p384", user_email=None, profile_name="tls-server",
                       dns_names=("portal.example", "127.0.0.1")),
    "ocsp-responder": dict(key_type="ec-p256", user_email=None, profile_name="ocsp-responder"),
}


@pytest.mark.interop
def test_root_and_issuer(session_pki):
    _lint("lint_pkix_cert", session_pki.root_pem)
    _lint("lint_pkix_cert", session_pki.issuer_pem)
    _lint("lint_pkix_signer_signee_cert_chain", session_pki.root_pem, session_pki.issuer_pem)


@pytest.mark.interop
@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaf_of_each_profile(runtime, operator, session_pki, tmp_path, leaf):
    spec = dict(LEAVES[leaf])
    _key, csr = good_csr(spec.pop("key_type"))
    issued = issue_certificate(runtime, operator, csr_data=csr, issuer_name=session_pki.issuer_name, **spec)
    path = tmp_path / f"{leaf}.pem"
    path.write_bytes(issued.certificate.public_bytes(Encoding.PEM))
    _lint("lint_pkix_cert", path)
    _lint("lint_pkix_signer_signee_cert_chain", session_pki.issuer_pem, path)


@pytest.mark.interop
def test_linter_can_fail(session_pki):
    """A leaf given as its own issuer is a broken chain: the chain linter must say so (exit ≠ 0)."""
    result = subprocess.run([require_tool("lint_pkix_signer_signee_cert_chain"), "lint", "-s", "WARNING",
                             str(session_pki.issuer_pem), str(session_pki.root_pem)], capture_output=True,
                            timeout=120)
    assert result.returncode != 0

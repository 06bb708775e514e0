"""Root rollover with cross-certificates (issue 6 §2): relying parties that trust only one root validate
chains under either, given the cross-certificate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca import issuance
from ca import root as root_ca
from ca.issuer import create_issuer_key
from ca.lifecycle import issuers
from ca.x509.names import parse_dn
from cli.main import cli
from tests.support.pki import PASSPHRASE
from tests.support.tools import require_tool
from tests.vectors.bad_csrs import good_csr

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def _cli(runner: CliRunner, *args: object) -> str:
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_cross_signed_roots_validate_both_ways(runtime, operator, session_pki, runner, tmp_path):
    openssl = require_tool("openssl")
    # A leaf of the old hierarchy, issued before the new issuer takes over.
    old_leaf_cert = issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1],
                                               user_email="alice@example.com").certificate
    old_dir, new_dir = session_pki.root_dir, tmp_path / "new-root"
    passfile = tmp_path / "pass"
    passfile.write_bytes(PASSPHRASE)
    _cli(runner, "root", "init", "--root-dir", new_dir, "--subject", "CN=Test Root CA 2,O=Portail Tests,C=FR",
         "--passphrase-file", passfile)
    new_root = x509.load_pem_x509_certificate((new_dir / "root.crt").read_bytes())
    # Both directions: the old root certifies the new root's key, and the new root the old one's.
    old_signs_new, new_signs_old = tmp_path / "old-signs-new.pem", tmp_path / "new-signs-old.pem"
    _cli(runner, "root", "cross-sign", "--root-dir", old_dir, "--cert", new_dir / "root.crt", "--out", old_signs_new,
         "--passphrase-file", passfile)
    _cli(runner, "root", "cross-sign", "--root-dir", new_dir, "--cert", session_pki.root_pem, "--out", new_signs_old,
         "--passphrase-file", passfile)
    cross_new = x509.load_pem_x509_certificate(old_signs_new.read_bytes())
    assert cross_new.subject == new_root.subject and cross_new.issuer == session_pki.root.subject
    assert cross_new.public_key() == new_root.public_key()

    # An issuer under the new root, installed as the active issuer, issues a leaf.
    csr = create_issuer_key(session_pki.key_dir, "issuer-new-root", parse_dn("CN=Issuer Under Root 2,C=FR"),
                            "ec-p256", PASSPHRASE)
    issuer2 = root_ca.sign_issuer(new_dir, csr_data=csr, passphrase=PASSPHRASE, validity_years=5,
                                  now=runtime.clock.now())
    issuers.install_issuer(runtime, operator, name="issuer-new-root", certificate=issuer2, root=new_root)
    leaf_new = issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1],
                                         user_email="alice@example.com").certificate

    def verify(trust: Path, untrusted: list[Path], leaf: Path) -> subprocess.CompletedProcess[str]:
        args = [openssl, "verify", "-CAfile", str(trust)]
        for path in untrusted:
            args += ["-untrusted", str(path)]
        return subprocess.run([*args, str(leaf)], capture_output=True, text=True)

    leaf_new_pem = _pem(tmp_path / "leaf-new.pem", leaf_new)
    issuer2_pem = _pem(tmp_path / "issuer2.pem", issuer2)
    # Only the OLD root trusted: the new-root leaf verifies with the cross-certificate, not without it.
    assert verify(session_pki.root_pem, [issuer2_pem], leaf_new_pem).returncode != 0
    ok = verify(session_pki.root_pem, [issuer2_pem, old_signs_new], leaf_new_pem)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # Only the NEW root trusted: a leaf of the old hierarchy verifies through the reverse cross-certificate.
    old_leaf = _pem(tmp_path / "leaf-old.pem", old_leaf_cert)
    assert verify(new_dir / "root.crt", [session_pki.issuer_pem], old_leaf).returncode != 0
    ok = verify(new_dir / "root.crt", [session_pki.issuer_pem, new_signs_old], old_leaf)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    lint_chain = require_tool("lint_pkix_signer_signee_cert_chain")
    lint_cert = require_tool("lint_pkix_cert")
    for signer, signee in ((session_pki.root_pem, old_signs_new), (new_dir / "root.crt", new_signs_old)):
        result = subprocess.run([lint_chain, "lint", str(signer), str(signee)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
        result = subprocess.run([lint_cert, "lint", "-s", "WARNING", str(signee)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout

    # The repository serves the cross-certificate.
    _cli(runner, "issuer", "publish-cross", "--name", "root2-by-root1", "--cert", old_signs_new)
    from revocation.repository import repository_documents

    document = repository_documents(runtime)["/pki/cross/root2-by-root1.crt"]
    assert document.media_type == "application/pkix-cert"
    assert x509.load_der_x509_certificate(document.body) == cross_new


def test_cross_sign_refuses_non_root_and_self(runner, session_pki, tmp_path):
    passfile = tmp_path / "pass"
    passfile.write_bytes(PASSPHRASE)
    for cert, message in ((session_pki.issuer_pem, "self-signed root"), (session_pki.root_pem, "itself")):
        result = runner.invoke(cli, ["root", "cross-sign", "--root-dir", str(session_pki.root_dir), "--cert",
                                     str(cert), "--out", str(tmp_path / "x.pem"), "--passphrase-file", str(passfile)])
        assert result.exit_code != 0 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.pem").exists()

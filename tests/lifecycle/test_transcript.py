"""Ceremony transcripts (issue 6 §4) and TOML ceremonies that never overwrite an output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from cli.main import cli
from tests.support.pki import PASSPHRASE

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _run(runner: CliRunner, *args: object):
    return runner.invoke(cli, [str(a) for a in args])


def _issuer_csr(path: Path, cn: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
    path.write_bytes(csr.public_bytes(Encoding.PEM))
    return path


@pytest.fixture
def ceremony_root(runner: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    root_dir, passfile = tmp_path / "root", tmp_path / "pass"
    passfile.write_bytes(PASSPHRASE)
    assert _run(runner, "root", "--operator", "Alice Martin", "init", "--root-dir", root_dir, "--subject",
                "CN=Transcript Root,C=FR", "--passphrase-file", passfile).exit_code == 0
    csr = _issuer_csr(tmp_path / "issuer.csr", "Transcript Issuer")
    assert _run(runner, "root", "--operator", "Bob", "sign-issuer", "--root-dir", root_dir, "--csr", csr, "--out",
                tmp_path / "issuer.crt", "--passphrase-file", passfile).exit_code == 0
    assert _run(runner, "root", "crl", "--root-dir", root_dir, "--out", tmp_path / "root.crl",
                "--passphrase-file", passfile).exit_code == 0
    return root_dir, passfile


def test_every_root_command_is_recorded(runner, ceremony_root, tmp_path):
    root_dir, _ = ceremony_root
    lines = [json.loads(line) for line in (root_dir / "transcript.jsonl").read_text().splitlines()]
    assert [e["command"] for e in lines] == ["root init", "root sign-issuer", "root crl"]
    assert [e["operator"] for e in lines][:2] == ["Alice Martin", "Bob"]
    assert lines[1]["inputs"]["csr"] == hashlib.sha256((tmp_path / "issuer.csr").read_bytes()).hexdigest()
    issuer_der = x509.load_pem_x509_certificate((tmp_path / "issuer.crt").read_bytes()).public_bytes(Encoding.DER)
    assert lines[1]["fingerprint"] == hashlib.sha256(issuer_der).hexdigest()
    assert lines[2]["fingerprint"] == hashlib.sha256((tmp_path / "root.crl").read_bytes()).hexdigest()
    result = _run(runner, "root", "verify-transcript", "--root-dir", root_dir)
    assert result.exit_code == 0 and "3 entries" in result.stdout


@pytest.mark.parametrize("line_number", [1, 2, 3])
def test_editing_one_line_is_detected_and_named(runner, ceremony_root, line_number):
    root_dir, _ = ceremony_root
    path = root_dir / "transcript.jsonl"
    lines = path.read_text().splitlines()
    entry = json.loads(lines[line_number - 1])
    entry["operator"] = "Mallory"
    lines[line_number - 1] = json.dumps(entry, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    result = _run(runner, "root", "verify-transcript", "--root-dir", root_dir)
    assert result.exit_code != 0
    assert f"line {line_number} was modified" in result.stderr


def test_removing_a_line_is_detected(runner, ceremony_root):
    root_dir, _ = ceremony_root
    path = root_dir / "transcript.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    result = _run(runner, "root", "verify-transcript", "--root-dir", root_dir)
    assert result.exit_code != 0 and "line 2" in result.stderr


def _ceremony_file(tmp_path: Path, root_dir: Path, passfile: Path) -> Path:
    _issuer_csr(tmp_path / "ca1.csr", "Ceremony Issuer 1")
    _issuer_csr(tmp_path / "ca2.csr", "Ceremony Issuer 2")
    path = tmp_path / "ceremony.toml"
    path.write_text(f'''operator = "Key Custodian"
root_dir = "{root_dir}"
passphrase_file = "{passfile}"
[root]
subject = "CN=Ceremony Root,O=Portail Tests,C=FR"
validity_years = 15
[[sign_issuer]]
csr = "ca1.csr"
out = "ca1.crt"
[[sign_issuer]]
csr = "ca2.csr"
out = "ca2.crt"
validity_years = 4
[crl]
out = "root.crl"
''')
    return path


def test_ceremony_file_runs_every_step(runner, tmp_path):
    passfile = tmp_path / "pass"
    passfile.write_bytes(PASSPHRASE)
    plan = _ceremony_file(tmp_path, tmp_path / "croot", passfile)
    result = _run(runner, "root", "ceremony", plan)
    assert result.exit_code == 0, result.stderr
    root = x509.load_pem_x509_certificate((tmp_path / "croot" / "root.crt").read_bytes())
    for name in ("ca1.crt", "ca2.crt"):
        x509.load_pem_x509_certificate((tmp_path / name).read_bytes()).verify_directly_issued_by(root)
    assert x509.load_der_x509_crl((tmp_path / "root.crl").read_bytes()).is_signature_valid(root.public_key())
    entries = [json.loads(line) for line in (tmp_path / "croot" / "transcript.jsonl").read_text().splitlines()]
    assert [e["command"] for e in entries] == ["root ceremony: init", "root ceremony: sign-issuer",
                                               "root ceremony: sign-issuer", "root ceremony: crl"]
    assert {e["operator"] for e in entries} == {"Key Custodian"}
    assert _run(runner, "root", "verify-transcript", "--root-dir", tmp_path / "croot").exit_code == 0


def test_ceremony_refuses_to_overwrite_and_does_nothing(runner, tmp_path):
    passfile = tmp_path / "pass"
    passfile.write_bytes(PASSPHRASE)
    plan = _ceremony_file(tmp_path, tmp_path / "croot", passfile)
    (tmp_path / "ca2.crt").write_text("precious")
    result = _run(runner, "root", "ceremony", plan)
    assert result.exit_code != 0 and "ca2.crt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "croot").exists() and not (tmp_path / "ca1.crt").exists()
    assert (tmp_path / "ca2.crt").read_text() == "precious"

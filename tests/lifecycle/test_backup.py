"""Key backup and recovery of a file key (issue 6 §5): a fresh host brings the issuer back from the backup."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography import x509

from ca.ledger.models import AuditEvent
from cli.main import cli
from tests.support.pki import PASSPHRASE
from tests.vectors.bad_csrs import good_csr

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _run(runner: CliRunner, *args: object, env: dict[str, str] | None = None):
    return runner.invoke(cli, [str(a) for a in args], env=env)


def test_backup_restores_the_issuer_on_a_fresh_host(runner, runtime, session_pki, environ, tmp_path):
    backup_pass = tmp_path / "backup.pass"
    backup_pass.write_bytes(b"another long backup passphrase")
    backup = tmp_path / "issuer-backup.pem"
    result = _run(runner, "issuer", "export-key", "--name", session_pki.issuer_name, "--out", backup,
                  "--new-passphrase-file", backup_pass)
    assert result.exit_code == 0, result.stderr
    assert b"ENCRYPTED PRIVATE KEY" in backup.read_bytes() and oct(backup.stat().st_mode)[-3:] == "600"
    # The backup is not readable with the service's passphrase: it has its own.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    with pytest.raises(ValueError):
        load_pem_private_key(backup.read_bytes(), password=PASSPHRASE)

    # A fresh host: its own key directory, passphrase and ledger.
    host = tmp_path / "new-host"
    host_pass = host / "issuer.pass"
    host_pass.parent.mkdir(parents=True)
    host_pass.write_bytes(b"the new host's own passphrase")
    fresh = {**environ, "PKI_DATABASE__URL": f"sqlite:///{host / 'ledger.sqlite3'}",
             "PKI_CA__KEY_DIR": str(host / "keys"), "PKI_CA__PASSPHRASE_FILE": str(host_pass)}
    result = _run(runner, "issuer", "import-key", "--name", session_pki.issuer_name, "--backup", backup,
                  "--backup-passphrase-file", backup_pass, env=fresh)
    assert result.exit_code != 0 and "no ledger here" in result.stderr  # a fresh host makes its ledger first
    assert not (host / "keys").exists() and not (host / "ledger.sqlite3").exists()
    assert _run(runner, "db", "upgrade", env=fresh).exit_code == 0
    result = _run(runner, "issuer", "import-key", "--name", session_pki.issuer_name, "--backup", backup,
                  "--backup-passphrase-file", tmp_path / "missing.pass", env=fresh)
    assert result.exit_code != 0 and "not found" in result.stderr
    result = _run(runner, "issuer", "import-key", "--name", session_pki.issuer_name, "--backup", backup,
                  "--backup-passphrase-file", host_pass, env=fresh)
    assert result.exit_code != 0 and "wrong passphrase" in result.stderr
    assert not (host / "keys" / f"{session_pki.issuer_name}.key.pem").exists()
    result = _run(runner, "issuer", "import-key", "--name", session_pki.issuer_name, "--backup", backup,
                  "--backup-passphrase-file", backup_pass, env=fresh)
    assert result.exit_code == 0, result.stderr
    for args in (["issuer", "install", "--name", session_pki.issuer_name, "--cert", session_pki.issuer_pem,
                  "--root-cert", session_pki.root_pem],
                 ["company", "create", "--eic", "10XFR-RTE------Q", "--name", "Grid"],
                 ["user", "create", "--email", "bob@example.com", "--name", "Bob", "--company", "10XFR-RTE------Q"]):
        result = _run(runner, *args, env=fresh)
        assert result.exit_code == 0, result.stderr
    (tmp_path / "leaf.csr").write_bytes(good_csr("ec-p256")[1])
    result = _run(runner, "cert", "issue", "--csr", tmp_path / "leaf.csr", "--user", "bob@example.com", "--out",
                  tmp_path / "leaf.pem", env=fresh)
    assert result.exit_code == 0, result.stderr
    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    leaf.verify_directly_issued_by(session_pki.issuer)
    with runtime.sessionmaker() as session:
        actions = {e.action for e in session.query(AuditEvent)}
    assert "issuer.key_exported" in actions



"""import-key drill: `pkictl issuer import-key` is all or nothing — a refusal writes no file and no event."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.drills.conftest import Site, pkictl

ISSUER = "issuing-ca-1"
BACKUP_PASSPHRASE = b"a long passphrase for the backup"


def _events(directory: Path, env: dict[str, str]) -> int:
    result = pkictl(directory, env, "audit", "verify")
    assert result.returncode == 0, result.stderr
    found = re.search(r"audit trail intact: (\d+) events", result.stdout)
    assert found, result.stdout
    return int(found.group(1))


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def host(site: Site, tmp_path: Path) -> Site:
    """A copy of the quickstart site (its settings are relative paths), with a backup of the issuer key."""
    directory = tmp_path / "host"
    shutil.copytree(site.directory, directory)
    (directory / "backup.pass").write_bytes(BACKUP_PASSPHRASE)
    result = pkictl(directory, site.env, "issuer", "export-key", "--name", ISSUER, "--out", "backup.pem",
                    "--new-passphrase-file", "backup.pass")
    assert result.returncode == 0, result.stderr
    return Site(directory, site.env)


def _other_key_backup(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(BACKUP_PASSPHRASE)))


def _lose_issuer_key(keys: Path) -> None:
    for name in (f"{ISSUER}.key.pem", f"{ISSUER}.pub.pem"):
        (keys / name).unlink()


CASES = {
    # name: (what is injected, set-up, --name, --backup, passphrase file, expected fragment)
    "stray public key": ("a leftover restored.pub.pem for the name being restored",
                         lambda keys, d: (keys / "restored.pub.pem").write_bytes(b"left over\n"),
                         "restored", "backup.pem", "backup.pass", "refusing to overwrite existing file"),
    "wrong passphrase": ("the backup opened with the wrong passphrase",
                         lambda keys, d: None, "restored", "backup.pem", "var/secrets/issuer.passphrase",
                         "wrong passphrase"),
    "key of another issuer": ("a backup of another key, restored as the installed issuer",
                              lambda keys, d: (_lose_issuer_key(keys), _other_key_backup(d / "other.pem")),
                              ISSUER, "other.pem", "backup.pass", "is not the key of issuer"),
    "key file already there": ("restoring over the issuer's own key file",
                               lambda keys, d: None, ISSUER, "backup.pem", "backup.pass",
                               "refusing to overwrite existing file"),
}


@pytest.mark.parametrize("case", CASES)
def test_import_key_refusal_writes_nothing(host, drill, case):
    injected, prepare, name, backup, passphrase, fragment = CASES[case]
    drill.injected = injected
    drill.checked = "one error line, non-zero, key dir and audit trail unchanged"
    keys = host.directory / "var" / "keys"
    prepare(keys, host.directory)
    before, events = _tree(keys), _events(host.directory, host.env)
    result = pkictl(host.directory, host.env, "issuer", "import-key", "--name", name, "--backup", backup,
                    "--backup-passphrase-file", passphrase)
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and fragment in line, line
    assert _tree(keys) == before
    assert _events(host.directory, host.env) == events
    drill.figure("exit", result.returncode)
    drill.figure("files written", len(set(_tree(keys)) - set(before)))
    drill.figure("events added", 0)


def test_import_key_after_a_lost_key_restores_it(host, drill):
    drill.injected = "issuer key files lost, then restored from the backup"
    drill.checked = "both files written, one issuer.key_restored event, the issuer signs again"
    keys = host.directory / "var" / "keys"
    original = (keys / f"{ISSUER}.pub.pem").read_bytes()
    _lose_issuer_key(keys)
    events = _events(host.directory, host.env)
    result = pkictl(host.directory, host.env, "issuer", "import-key", "--name", ISSUER, "--backup", "backup.pem",
                    "--backup-passphrase-file", "backup.pass")
    assert result.returncode == 0, result.stderr
    assert (keys / f"{ISSUER}.pub.pem").read_bytes() == original and (keys / f"{ISSUER}.key.pem").is_file()
    assert _events(host.directory, host.env) == events + 1
    published = pkictl(host.directory, host.env, "crl", "publish")  # signs with the restored key
    assert published.returncode == 0, published.stderr
    drill.figure("events added", 1)

"""Not-a-site drill: `pkictl` run where there is no PKI refuses in one line and creates nothing."""

from __future__ import annotations

import time

import pytest
import sqlalchemy

from tests.conftest import BACKENDS
from tests.drills.conftest import pkictl
from tests.support.server import process_environment

COMMANDS = [
    ("cert", "list"),
    ("company", "list"),
    ("issuer", "list"),
    ("issuer", "status"),
    ("user", "list"),
    ("audit", "verify"),
    ("crl", "publish"),
    ("serve", "all"),
    ("serve", "repository"),
    ("issuer", "import-key", "--name", "issuing-ca-1", "--backup", "backup.pem", "--backup-passphrase-file",
     "/dev/null"),
]


def _tables(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return sqlalchemy.inspect(connection).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_commands_refuse_an_empty_directory(tmp_path, drill, command):
    drill.injected = f"`pkictl {' '.join(command[:2])}` in an empty directory"
    drill.checked = "one error line, non-zero, nothing created"
    env = process_environment({})
    started = time.monotonic()
    result = pkictl(tmp_path, env, *command, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "error: no ledger here (var/ledger.sqlite3): run 'pkictl quickstart', or point --config / PKI_CONFIG at "
        "your site"], result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []
    drill.figure("exit", result.returncode)
    drill.figure("time", elapsed, "s")


def test_only_db_upgrade_makes_a_ledger_then_commands_work(tmp_path, drill):
    drill.injected = "`pkictl db upgrade` in an empty directory, then `cert list`"
    drill.checked = "db upgrade creates the ledger; the refusal is gone"
    env = process_environment({})
    assert pkictl(tmp_path, env, "cert", "list").returncode != 0
    assert list(tmp_path.iterdir()) == []
    upgrade = pkictl(tmp_path, env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert (tmp_path / "var" / "ledger.sqlite3").is_file()
    listed = pkictl(tmp_path, env, "cert", "list")
    assert listed.returncode == 0 and "error" not in listed.stderr, listed.stderr
    drill.figure("files after db upgrade", len([p for p in tmp_path.rglob("*") if p.is_file()]))


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_postgres_database_without_schema_is_refused(tmp_path, drill, database_url):
    drill.injected = "PostgreSQL URL of an empty schema, `cert list` and `company list`"
    drill.checked = "one line pointing at `pkictl db upgrade`, schema left empty, no file"
    env = process_environment({"PKI_DATABASE__URL": database_url})
    for command in (("cert", "list"), ("company", "list")):
        result = pkictl(tmp_path, env, *command, timeout=60)
        assert result.returncode != 0
        [line] = result.stderr.splitlines()
        assert line.startswith("error: no ledger in postgresql+psycopg://") and \
            "(no ledger schema yet): run 'pkictl db upgrade'" in line, line
    assert _tables(database_url) == []
    assert list(tmp_path.iterdir()) == []
    upgrade = pkictl(tmp_path, env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert pkictl(tmp_path, env, "cert", "list").returncode == 0
    drill.figure("tables before db upgrade", 0)
    drill.figure("tables after", len(_tables(database_url)))

"""Fixture chain: settings → runtime → runner (DESIGN §9).

Each test gets a fresh ledger: a SQLite file, and, when PKI_TEST_DATABASE_URL is set, also a fresh
PostgreSQL schema (the `database_url` fixture is parametrized over both, so the same tests run on each).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from ca.actor import cli_operator
from ca.clock import FixedClock
from ca.lifecycle import issuers
from ca.runtime import Runtime, build_runtime
from ca.settings import Settings, load_settings
from enrollment.accounts import companies
from enrollment.accounts import users as accounts
from tests.support.pki import T0, SessionPKI, make_session_pki
from tests.support.tools import in_ci

PG_URL = os.environ.get("PKI_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
EIC = "10XDEMO-PRODUCE2"
OTHER_EIC = "10XFR-RTE------Q"


def pytest_configure(config: pytest.Config) -> None:
    if in_ci() and not PG_URL:
        raise pytest.UsageError("CI=true but PKI_TEST_DATABASE_URL is not set: the PostgreSQL runs are required")


@pytest.fixture(scope="session")
def session_pki(tmp_path_factory: pytest.TempPathFactory) -> SessionPKI:
    return make_session_pki(tmp_path_factory.mktemp("pki"))


def _postgres_schema_url() -> Iterator[str]:
    import sqlalchemy

    schema = "t_" + uuid.uuid4().hex[:16]
    admin = sqlalchemy.create_engine(PG_URL)  # type: ignore[arg-type]
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sqlalchemy.exc.OperationalError as exc:
        pytest.fail(f"PKI_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}")
    separator = "&" if "?" in PG_URL else "?"  # type: ignore[operator]
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def environ(tmp_path: Path, session_pki: SessionPKI, database_url: str) -> dict[str, str]:
    """The environment a CLI process or the services would get: everything under tmp_path."""
    return {
        "PKI_DATABASE__URL": database_url,
        "PKI_CA__KEY_DIR": str(session_pki.key_dir),
        "PKI_CA__PASSPHRASE_FILE": str(session_pki.passphrase_file),
        "PKI_ROOT__DIR": str(session_pki.root_dir),
        "PKI_REPOSITORY__CRL_DIR": str(tmp_path / "crl"),
        "PKI_REPOSITORY__CROSS_DIR": str(tmp_path / "cross"),
        "PKI_CA__PKCS11_PIN_FILE": str(tmp_path / "secrets" / "pkcs11.pin"),
        "PKI_PORTAL__SECRET_FILE": str(tmp_path / "secrets" / "session.key"),
        "PKI_PORTAL__OUTBOX_DIR": str(tmp_path / "outbox"),
        # The suite reads the pages in English; the French default is tested by tests/portal/test_i18n.py.
        "PKI_PORTAL__DEFAULT_LOCALE": "en",
    }


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    return load_settings(None, environ)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 + timedelta(days=1))


@pytest.fixture
def bare_runtime(settings: Settings, clock: FixedClock) -> Iterator[Runtime]:
    """A migrated, empty ledger: no issuer installed."""
    runtime = build_runtime(settings, clock)
    yield runtime
    runtime.close()


@pytest.fixture
def operator():
    return cli_operator("pytest")


@pytest.fixture
def runtime(bare_runtime: Runtime, session_pki: SessionPKI, operator) -> Runtime:
    """A ledger with the session issuer installed, a company and its first administrator."""
    issuers.install_issuer(bare_runtime, operator, name=session_pki.issuer_name, certificate=session_pki.issuer,
                           root=session_pki.root)
    companies.create_company(bare_runtime, operator, eic=EIC, name="Demo Producer")
    accounts.create_user(bare_runtime, operator, email="alice@example.com", full_name="Alice Martin",
                         company_eic=EIC, role="first-admin")
    return bare_runtime


@pytest.fixture
def runner(environ: dict[str, str], runtime: Runtime) -> CliRunner:
    """Invokes `pkictl` in-process against the same ledger as `runtime` (real clock)."""
    return CliRunner(env=environ)

"""Fixture chain of the portal tests: runtime → world → app → client (DESIGN §9).

On SQLite the populated ledger (issuer, two companies, every role, groups, connection points) is built
once per test session and copied for each test: migrating and populating costs ~1 s, a copy ~1 ms.
On PostgreSQL each test builds it (the schema is per test).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from ca.runtime import build_runtime
from ca.settings import load_settings
from tests.portal.mailbox import start_mailbox
from tests.portal.support import World, build_world
from webapp.app import create_app


@dataclasses.dataclass(frozen=True)
class Template:
    path: Path
    world: World


@pytest.fixture(scope="session")
def world_template(tmp_path_factory, session_pki) -> Template:
    from datetime import timedelta

    from ca.actor import cli_operator
    from ca.clock import FixedClock
    from ca.lifecycle import issuers
    from enrollment.accounts import companies
    from enrollment.accounts import users as accounts
    from tests.conftest import EIC
    from tests.support.pki import T0

    base = tmp_path_factory.mktemp("portal-template")
    path = base / "ledger.sqlite3"
    settings = load_settings(None, {
        "PKI_DATABASE__URL": f"sqlite:///{path}", "PKI_CA__KEY_DIR": str(session_pki.key_dir),
        "PKI_CA__PASSPHRASE_FILE": str(session_pki.passphrase_file), "PKI_ROOT__DIR": str(session_pki.root_dir),
        "PKI_REPOSITORY__CRL_DIR": str(base / "crl"), "PKI_PORTAL__SECRET_FILE": str(base / "session.key"),
        "PKI_PORTAL__OUTBOX_DIR": str(base / "outbox")})
    runtime = build_runtime(settings, FixedClock(T0 + timedelta(days=1)))
    operator = cli_operator("pytest")
    issuers.install_issuer(runtime, operator, name=session_pki.issuer_name, certificate=session_pki.issuer,
                           root=session_pki.root)
    companies.create_company(runtime, operator, eic=EIC, name="Demo Producer")
    accounts.create_user(runtime, operator, email="alice@example.com", full_name="Alice Martin", company_eic=EIC,
                         role="first-admin")
    world = build_world(runtime)
    runtime.close()
    return Template(path=path, world=world)


@pytest.fixture
def runtime(request, database_url, settings, clock, world_template):
    """The populated ledger: a copy of the session's template on SQLite, built afresh on PostgreSQL."""
    if not database_url.startswith("sqlite"):
        return request.getfixturevalue("pg_runtime")
    target = Path(database_url.split("///", 1)[1])
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(world_template.path) + suffix)
        if source.exists():
            shutil.copyfile(source, str(target) + suffix)
    runtime = build_runtime(settings, clock, migrate=False)
    request.addfinalizer(runtime.close)
    return runtime


@pytest.fixture
def pg_runtime(bare_runtime, session_pki, operator):
    from ca.lifecycle import issuers
    from enrollment.accounts import companies
    from enrollment.accounts import users as accounts
    from tests.conftest import EIC

    issuers.install_issuer(bare_runtime, operator, name=session_pki.issuer_name, certificate=session_pki.issuer,
                           root=session_pki.root)
    companies.create_company(bare_runtime, operator, eic=EIC, name="Demo Producer")
    accounts.create_user(bare_runtime, operator, email="alice@example.com", full_name="Alice Martin",
                         company_eic=EIC, role="first-admin")
    build_world(bare_runtime)
    return bare_runtime


@pytest.fixture
def world(runtime, world_template) -> World:
    return dataclasses.replace(world_template.world, runtime=runtime)


@pytest.fixture
def app(settings, runtime, world):
    app = create_app(settings, runtime=runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def mailbox(runtime):
    """A real SMTP server on loopback (aiosmtpd); the runtime sends its mail there."""
    box, controller = start_mailbox()
    portal = dataclasses.replace(runtime.settings.portal, smtp_host=controller.hostname, smtp_port=controller.port)
    runtime.settings = dataclasses.replace(runtime.settings, portal=portal)
    yield box
    controller.stop()

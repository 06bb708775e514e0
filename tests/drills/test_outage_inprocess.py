"""Drill, in process: the SQLite ledger file is gone (moved away, its path a directory SQLite cannot open).

A server process keeps reading a SQLite file it has open even after the file is gone, so this outage is made
for the portal application in this process (its pooled connections closed, as a restarted worker would
meet it). Every path a portal request takes meets the outage: the session loaded before the view, the
login rate limiter and password check, the API's authentication, error pages (404 for a logged-in person),
the application's start (seed_services), `/readyz`. None may answer 500; when the file is back, the same
application answers normally again at once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ca.runtime import Runtime
from ca.settings import Settings, load_settings
from tests.frontoffice.world import build_world
from tests.portal.support import PASSWORD, login, password_hash
from tests.revocation.test_ocsp_faults import LedgerOutage
from webapp.app import create_app

ALICE = "alice@example.com"


def _login_form(client: FlaskClient) -> dict[str, str]:
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return {"email": ALICE, "password": PASSWORD, "csrf_token": csrf}


def _probe(client: FlaskClient, anonymous: FlaskClient, form: dict[str, str]) -> dict[str, int]:
    answers = {
        "GET /home (logged in)": client.get("/home"),
        "GET /no-such-page (logged in)": client.get("/no-such-page"),
        "GET /api/v1/me (logged in)": client.get("/api/v1/me"),
        "POST /login": anonymous.post("/login", data=form),
        "GET /readyz": anonymous.get("/readyz"),
        "GET /healthz": anonymous.get("/healthz"),
    }
    for name, response in answers.items():
        print(f"  {name:32s} HTTP {response.status_code}")
    return {name: response.status_code for name, response in answers.items()}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_portal_when_the_sqlite_file_is_gone(bare_runtime: Runtime, settings: Settings, session_pki,
                                             database_url: str, tmp_path: Path) -> None:
    world = build_world(bare_runtime, session_pki, tmp_path / "world")
    world.set_user(ALICE, status="active", password_hash=password_hash(PASSWORD))
    app = create_app(settings)
    runtime = app.extensions["portail.runtime"]
    client, anonymous = app.test_client(), app.test_client()
    login(client, ALICE)
    form = _login_form(anonymous)
    outage = LedgerOutage(database_url, tmp_path)
    print("\n[drill] SQLite ledger file gone (in process)")
    outage.begin(runtime)
    try:
        during = _probe(client, anonymous, form)
        home = client.get("/home")
        assert "Temporarily unavailable" in home.get_data(as_text=True) and home.headers["Retry-After"]
        assert client.get("/api/v1/me").get_json()["error"]["kind"] == "unavailable"
        # A worker that starts now still starts (seed_services and the migration meet the outage).
        late = create_app(settings)
        late_status = late.test_client().get("/readyz").status_code
        late.extensions["portail.runtime"].close()
    finally:
        outage.end()
    assert during == {"GET /home (logged in)": 503, "GET /no-such-page (logged in)": 503,
                      "GET /api/v1/me (logged in)": 503, "POST /login": 503, "GET /readyz": 503, "GET /healthz": 200}
    assert late_status == 503
    returned = time.monotonic()
    assert client.get("/home").status_code == 200
    assert client.get("/api/v1/me").status_code == 200
    assert anonymous.get("/readyz").status_code == 200
    print(f"[drill] file back: portal answers normally after {time.monotonic() - returned:.2f} s, no restart")
    runtime.close()


@pytest.mark.usefixtures("runtime")  # migrated, an issuer installed
def test_portal_worker_starting_with_the_ledger_down(tmp_path: Path, environ) -> None:
    """PostgreSQL or SQLite unreachable at a worker's start: it starts and answers 503, then recovers."""
    outage = LedgerOutage(environ["PKI_DATABASE__URL"], tmp_path)
    down = load_settings(None, {**environ, "PKI_DATABASE__URL": outage.url})
    outage.begin()
    try:
        app = create_app(down)
        assert app.test_client().get("/login").status_code != 500
        assert app.test_client().get("/readyz").status_code == 503
    finally:
        outage.end()
    started = time.monotonic()
    while app.test_client().get("/readyz").status_code != 200 and time.monotonic() - started < 5:
        time.sleep(0.1)
    assert app.test_client().get("/readyz").status_code == 200
    app.extensions["portail.runtime"].close()
    outage.close()

"""Issue 15 item 5: Chromium without a client certificate gets the front office's 403 explanation page in
direct mode with the default settings (gunicorn, Python's ssl, CERT_OPTIONAL), and the refusal is audited."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from ca.ledger.models import AuditEvent
from ca.runtime import build_runtime
from ca.settings import load_settings
from tests.frontoffice.servers import frontoffice_environ, start_frontoffice
from tests.frontoffice.world import build_world
from tests.support.server import stop_server
from tests.support.tools import require, require_module

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PORTAL = "https://portal.example.test"


def test_chromium_without_a_certificate_gets_the_explanation_page(tmp_path, session_pki):
    sync_api = require_module("playwright.sync_api")
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    environ = {k: v for k, v in frontoffice_environ(tmp_path, session_pki, portal_url=PORTAL).items()
               if k != "PKI_FRONTOFFICE__MISSING_CERTIFICATE_PAGE"}  # the default
    runtime = build_runtime(load_settings(None, environ))
    server = None
    try:
        build_world(runtime, session_pki, tmp_path / "certs")
        server = start_frontoffice(environ, tmp_path / "logs")
        origin = f"https://127.0.0.1:{server.port}"
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_context(ignore_https_errors=True).new_page()
                response = page.goto(origin + "/services/markets", timeout=20_000)
                assert response is not None and response.status == 403
                assert page.locator(".refused").get_attribute("data-code") == "no_certificate"
                assert "did not present a client certificate" in page.locator("p.message").inner_text()
                assert PORTAL in page.locator("p.action").inner_text()
                assert page.locator("a.portal-link").get_attribute("href") == PORTAL
                page.screenshot(path=str(tmp_path / "frontoffice-no-certificate.png"))
            finally:
                browser.close()
        with runtime.sessionmaker() as session:
            events = session.execute(select(AuditEvent).where(AuditEvent.action == "gate.refused")).scalars().all()
        details = [json.loads(e.details) for e in events]  # stored as canonical JSON text (hash-chained)
        assert any(d.get("reason") == "no_certificate" for d in details), details
    finally:
        if server is not None:
            stop_server(server)
        runtime.close()

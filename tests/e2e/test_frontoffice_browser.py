"""A real browser (Chromium through Playwright) with the .p12 the portal delivers as its client certificate.

The PKCS#12 comes from the portal's own delivery use case (enrollment.keygen: server-side key generation,
`modern` encryption); Playwright presents it for the front office's origin (`client_certificates`).
The browser reaches the front office and sees its services and perimeter; after revocation it gets the
refusal page. Never runs `playwright install`: it drives the system Chromium.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ca.actor import Actor
from ca.ledger.models import CertificateRecord
from ca.revoke import revoke_certificate
from ca.runtime import build_runtime
from ca.settings import load_settings
from enrollment.requests.keygen import request_generated_certificate
from tests.frontoffice.servers import frontoffice_environ, start_frontoffice
from tests.frontoffice.world import OPERATOR, build_world
from tests.support.server import stop_server
from tests.support.tools import require, require_module

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
P12_PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def browser_setup(tmp_path: Path, session_pki) -> Iterator[tuple[dict[str, str], object, Path, str]]:
    require_module("playwright.sync_api")
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    environ = frontoffice_environ(tmp_path, session_pki, portal_url="https://portal.example.test")
    runtime = build_runtime(load_settings(None, environ))
    server = None
    try:
        world = build_world(runtime, session_pki, tmp_path / "certs")
        bob = Actor(kind="user", name="bob@example.com", user_id=world.user_ids["bob@example.com"],
                    company_id=world.company_id, role="user")
        view, download = request_generated_certificate(runtime, bob, password=P12_PASSWORD, encryption="modern")
        assert download is not None, f"request not delivered at once: {view}"
        p12 = tmp_path / download.filename
        p12.write_bytes(download.body)
        server = start_frontoffice(environ, tmp_path / "logs")
        yield environ, runtime, p12, f"https://127.0.0.1:{server.port}"
    finally:
        if server is not None:
            stop_server(server)
        runtime.close()


def test_browser_with_the_portal_p12_sees_services_then_the_refusal(browser_setup, tmp_path):
    from playwright.sync_api import sync_playwright

    _environ, runtime, p12, origin = browser_setup
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(ignore_https_errors=True, client_certificates=[
                {"origin": origin, "pfxPath": str(p12), "passphrase": P12_PASSWORD}])
            page = context.new_page()
            response = page.goto(origin + "/", timeout=20_000)
            assert response is not None and response.status == 200
            assert page.locator("dd.name").inner_text() == "Bob Trader"
            assert page.locator("dd.eic").inner_text() == "10XDEMO-PRODUCE2"
            assert page.locator("ul.services li").all_inner_texts() == [
                "Interconnection capacity auctions", "Market access"]
            page.click("text=Market access")
            page.wait_for_url(origin + "/services/markets")
            assert page.locator("ul.points li").all_inner_texts() == ["PDL-001 Poste Nord", "PDL-002 Poste Sud"]
            page.screenshot(path=str(tmp_path / "frontoffice-services.png"))

            with runtime.sessionmaker() as session:
                serial = session.execute(select(CertificateRecord.serial).where(
                    CertificateRecord.profile == "browser")).scalar_one()
            revoke_certificate(runtime, OPERATOR, serial=serial, reason="keyCompromise")
            time.sleep(runtime.settings.frontoffice.decision_cache_ms / 1000 + 0.1)
            response = page.goto(origin + "/services/markets", timeout=20_000)
            assert response is not None and response.status == 403
            assert "This certificate was revoked on" in page.locator("p.message").inner_text()
            assert "https://portal.example.test" in page.locator("p.action").inner_text()
            page.screenshot(path=str(tmp_path / "frontoffice-refused.png"))
        finally:
            browser.close()

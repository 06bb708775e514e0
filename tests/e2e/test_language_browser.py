"""The language of the portal in a real browser (Playwright driving Debian's Chromium), issue 15 item 1.

The browser's own language (Chromium's Accept-Language) chooses the page's; the switch of the page changes
it and comes back to the same page; a logged-in person's choice is saved and wins, on another browser with
another language, at the next login. Screenshots go to var/test-artifacts/e2e/ (git-ignored).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.e2e.test_portal_browser import ARTIFACTS, CHROMIUM_ARGS
from tests.portal.conftest import pg_runtime, runtime, world, world_template  # noqa: F401
from tests.portal.support import PASSWORD
from tests.support.server import free_port
from tests.support.tools import require_module, require_tool
from webapp.app import create_app


@pytest.fixture
def portal(runtime, world) -> Iterator[tuple[str, object]]:  # noqa: F811
    chromium = require_tool("chromium")
    sync_api = require_module("playwright.sync_api")
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(runtime.settings, runtime=runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                yield f"http://127.0.0.1:{port}", browser
            finally:
                browser.close()
    finally:
        server.shutdown()


def test_the_browser_language_the_switch_and_the_saved_choice(portal, world):  # noqa: F811
    from playwright.sync_api import expect

    url, browser = portal
    shots = ARTIFACTS / "e2e" / "language"
    shots.mkdir(parents=True, exist_ok=True)
    french_browser = browser.new_context(base_url=url, locale="fr-FR")  # type: ignore[attr-defined]
    page = french_browser.new_page()
    page.goto("/signup")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Créer un compte")).to_be_visible()
    page.screenshot(path=str(shots / "signup-fr.png"), full_page=True)
    page.get_by_role("button", name="English").click()
    page.wait_for_url("**/signup")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()

    page.goto("/login")
    page.get_by_label("E-mail address").fill(world.emails["carol"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home")
    page.goto("/profile")
    page.get_by_role("button", name="Français").click()
    page.wait_for_url("**/profile")
    expect(page.get_by_role("heading", name="Mon compte")).to_be_visible()
    page.screenshot(path=str(shots / "profile-fr.png"), full_page=True)
    french_browser.close()

    english_browser = browser.new_context(base_url=url, locale="en-US")  # type: ignore[attr-defined]
    page = english_browser.new_page()
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("E-mail address").fill(world.emails["carol"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home")
    expect(page.locator("html")).to_have_attribute("lang", "fr")  # the saved choice wins over the browser
    expect(page.get_by_role("link", name="Obtenir un certificat")).to_be_visible()
    english_browser.close()

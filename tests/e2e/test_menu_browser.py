"""Issue 15 item 6: the administrator's menu (the longest: every company page plus the person's own) fits on
one line of the header at 1280 px, in Debian's Chromium. A screenshot goes with the other e2e artifacts."""

from __future__ import annotations

from tests.e2e.test_portal_browser import _login, live  # noqa: F401
from tests.portal.conftest import pg_runtime, runtime, world, world_template  # noqa: F401


def test_admin_menu_fits_on_one_line_at_1280_px(live, world):  # noqa: F811
    page = live.page()
    page.set_viewport_size({"width": 1280, "height": 800})
    _login(page, world.emails["alice"], "correct horse battery staple")
    boxes = page.eval_on_selector_all(
        "header .bar > *, header nav a, header form button",
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {text: e.textContent.trim(), top: r.top, bottom: r.bottom, right: r.right}; })")
    live.shot(page, "admin-menu-1280")
    links = [b["text"] for b in boxes]
    assert "Company certificates" in links and "Audit trail" in links and "Log out" in links
    nav = [b for b in boxes if b["text"]]
    centres = [(b["top"] + b["bottom"]) / 2 for b in nav]
    assert max(centres) - min(centres) < 8, boxes  # one row: every item on the same line
    assert max(b["right"] for b in nav) <= 1280, boxes

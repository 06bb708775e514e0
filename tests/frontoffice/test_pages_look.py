"""Issue 15 item 5: front-office pages share the portal's look, link back to the portal, and show connection
points as links; a browser without a certificate gets the explanation page by default."""

from __future__ import annotations

import re

from werkzeug.test import Client

from ca.settings import load_settings
from tests.frontoffice.test_gate_wsgi import _TLSSocket
from webapp.frontoffice import create_frontoffice
from webapp.look import stylesheet


def _html(response) -> str:
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_pages_have_the_portal_look_and_a_way_back(world):
    bob = world.issue("bob", "bob@example.com")
    client = Client(create_frontoffice(world.runtime, mode="direct"))
    portal = world.runtime.settings.frontoffice.portal_url or world.runtime.settings.portal.base_url
    sock = {"gunicorn.socket": _TLSSocket(bob.der)}
    pages = {"service": client.get("/services/markets", environ_base=sock, headers={"Accept": "text/html"}),
             "refusal": client.get("/services/metering", environ_base=sock, headers={"Accept": "text/html"}),
             "no certificate": client.get("/", headers={"Accept": "text/html"})}
    assert (pages["service"].status_code, pages["refusal"].status_code, pages["no certificate"].status_code) == \
        (200, 403, 403)
    for name, response in pages.items():
        html = _html(response)
        assert stylesheet().split("\n")[0] in html, name  # the portal's own stylesheet
        assert re.search(rf'<a class="portal-link" href="{re.escape(portal)}/?">', html), name
        assert '<header><div class="bar">' in html, name
    service = _html(pages["service"])
    points = re.findall(r'<li data-point="([^"]+)"><a href="([^"]+)">', service)
    assert points, service
    for code, href in points:
        assert href == f"/services/markets/points/{code}"
        assert client.get(href, environ_base=sock).status_code == 200


def test_missing_certificate_page_is_on_by_default():
    assert load_settings(None, {}).frontoffice.missing_certificate_page is True

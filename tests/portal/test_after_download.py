"""The page after a download (issue 11 item 4): what it shows comes from its query only within fixed choices."""

from __future__ import annotations

from tests.portal.support import login


def test_after_download_page(client, world, runtime):
    login(client, world.emails["carol"])
    page = client.get("/certificates/downloaded?kind=browser&serial=0A1b2C")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Your key was made in this browser" in text
    assert 'href="/certificates/0A1b2C"' in text
    assert f'href="{runtime.settings.frontoffice.address}"' in text
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert '<script src="/static/build/browser-keys.js" defer>' in text


def test_after_download_page_ignores_what_it_does_not_know(client, world):
    login(client, world.emails["carol"])
    text = client.get('/certificates/downloaded?kind=<b>&serial="><script>').get_data(as_text=True)
    assert "the portal kept no copy of its key" in text
    assert "See the certificate" not in text and "<script>" not in text and "<b>" not in text


def test_after_download_page_needs_a_login(client):
    response = client.get("/certificates/downloaded")
    assert response.status_code == 302 and "/login" in response.headers["Location"]

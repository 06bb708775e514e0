"""The WSGI entry point `webapp.portal_wsgi:portal` builds the portal from PKI_* variables (granian factory)."""

from __future__ import annotations

from webapp import portal_wsgi


def test_portal_factory_reads_the_environment(monkeypatch, environ, runtime, world):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = portal_wsgi.portal()
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/api/v1/openapi.json").get_json()["info"]["title"]
    app.extensions["portail.runtime"].close()

"""The administrators' pages of API applications: register (the secret shown once), revoke; CSRF, roles and
company scope hold."""

from __future__ import annotations

import base64
import re

from sqlalchemy import func, select

from ca.ledger.api_client_models import ApiClient
from tests.portal.support import login, post


def _count(runtime) -> int:
    with runtime.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(ApiClient))


def test_administrator_registers_an_application_and_its_secret_works_once(client, runtime, world):
    login(client, "alice@example.com")
    assert client.get("/admin/api-clients").status_code == 200
    page = post(client, "/admin/api-clients", {"name": "ERP", "scope": ["certificates:read", "users:read"],
                                               "auth": "client_secret"})
    assert page.status_code == 201
    text = page.get_data(as_text=True)
    client_id = re.search(r"client_id: <code>([^<]+)</code>", text).group(1)
    secret = re.search(r"client_secret: <code>([^<]+)</code>", text).group(1)
    assert page.headers["Cache-Control"] == "no-store"
    listing = client.get("/admin/api-clients").get_data(as_text=True)
    assert client_id in listing and secret not in listing
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": f"Basic {basic}"})
    assert token.status_code == 200 and token.get_json()["scope"] == "certificates:read users:read"
    assert post(client, f"/admin/api-clients/{client_id}/revoke").status_code == 302
    again = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": f"Basic {basic}"})
    assert again.status_code == 401


def test_certificate_application_from_the_page(client, runtime, world):
    login(client, "alice@example.com")
    page = post(client, "/admin/api-clients", {"name": "Gateway", "scope": "certificates:read",
                                               "auth": "tls_client_auth", "tls_san_dns": "gw.example.com"})
    assert page.status_code == 201 and "client_secret: <code>" not in page.get_data(as_text=True)
    with runtime.sessionmaker() as session:
        row = session.scalars(select(ApiClient)).one()
    assert row.auth_method == "tls_client_auth" and row.tls_san_dns == "gw.example.com" and row.secret_hash is None


def test_refusals_change_nothing(client, runtime, world):
    login(client, "alice@example.com")
    no_csrf = client.post("/admin/api-clients", data={"name": "X", "scope": "users:read"})
    assert no_csrf.status_code == 400
    bad = post(client, "/admin/api-clients", {"name": "X", "scope": "root:all"})
    assert bad.status_code == 400 and "unknown scope" in bad.get_data(as_text=True)
    assert _count(runtime) == 0
    client.get("/logout")
    other = client.application.test_client()
    login(other, "carol@example.com")  # a user, not an administrator
    assert other.get("/admin/api-clients").status_code == 403
    assert post(other, "/admin/api-clients", {"name": "X", "scope": "users:read"}).status_code == 403
    assert _count(runtime) == 0


def test_another_companys_administrator_cannot_revoke(client, runtime, world):
    login(client, "alice@example.com")
    page = post(client, "/admin/api-clients", {"name": "ERP", "scope": "users:read"}).get_data(as_text=True)
    client_id = re.search(r"client_id: <code>([^<]+)</code>", page).group(1)
    erin = client.application.test_client()
    login(erin, "erin@other.example")
    assert post(erin, f"/admin/api-clients/{client_id}/revoke").status_code == 404
    assert client_id not in erin.get("/admin/api-clients").get_data(as_text=True)
    with runtime.sessionmaker() as session:
        assert session.scalars(select(ApiClient)).one().revoked_at is None


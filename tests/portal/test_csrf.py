"""Every state-changing route refuses a missing or wrong CSRF token (ASVS 5.0 3.5.1), and no GET changes state."""

from __future__ import annotations

import pytest
from flask import url_for

from tests.portal.support import csrf_token, login
from tests.portal.test_authorization_matrix import BODIES, fingerprint, objects  # noqa: F401  (fixture)

STATE_CHANGING = ("POST", "PATCH", "PUT", "DELETE")


def _who(endpoint: str) -> str | None:
    """The role for whom the route would otherwise work, so the token is the only thing missing."""
    if endpoint.startswith("operator."):
        return "oscar"
    if endpoint.startswith(("admin.", "api_clients.", "api.company", "api.new_user", "api.new_group", "api.edit_group",
                            "api.remove_group", "api.users", "api.detach", "api.approve", "api.reject")):
        return "alice"
    if endpoint.startswith(("account.", "api.")) or endpoint == "public.logout":
        return "carol"
    return None


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("oauth."):
            continue  # client credentials, never a cookie (RFC 6749 §3.2): tests/oauth shows a session gets nothing
        for method in sorted(rule.methods & set(STATE_CHANGING)):
            yield rule, method


@pytest.mark.parametrize("token", ["missing", "wrong", "other-session"])
def test_state_changing_routes_refuse_bad_csrf_tokens(app, world, runtime, objects, token):  # noqa: F811
    clients = {}
    for name in ("oscar", "alice", "carol", None):
        client = app.test_client()
        if name:
            login(client, world.emails[name])
        csrf_token(client)
        clients[name] = client
    stranger = app.test_client()
    foreign_token = csrf_token(stranger)  # valid, but for another session
    refused = []
    for rule, method in _routes(app):
        who = _who(rule.endpoint)
        values = {arg: objects[arg]["own"] for arg in rule.arguments}
        with app.test_request_context():
            url = url_for(rule.endpoint, **values)
        value = {"missing": None, "wrong": "not-a-token", "other-session": foreign_token}[token]
        before = fingerprint(runtime)
        client = clients[who]
        if rule.endpoint.startswith("api."):
            headers = {"X-CSRF-Token": value} if value else {}
            response = client.open(url, method=method, json=BODIES.get(rule.endpoint, {}), headers=headers)
        else:
            data = dict(BODIES.get(rule.endpoint, {}))
            if value:
                data["csrf_token"] = value
            response = client.open(url, method=method, data=data)
        assert response.status_code == 400, f"{method} {url} as {who}: {response.status_code}"
        kind = response.get_json()["error"]["kind"] if rule.endpoint.startswith("api.") else None
        assert kind in (None, "csrf")
        assert fingerprint(runtime) == before, f"{method} {url} changed the ledger without a valid token"
        refused.append(rule.endpoint)
    assert len(refused) >= 36


def test_no_route_changes_state_on_get(app, world, runtime, objects):  # noqa: F811
    """Every GET of every route, as the most privileged relevant person, leaves the ledger as it was."""
    clients = {name: app.test_client() for name in ("oscar", "alice", "carol")}
    for name, client in clients.items():
        login(client, world.emails[name])
    before = fingerprint(runtime)
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {arg: objects[arg]["own"] for arg in rule.arguments}
        with app.test_request_context():
            url = url_for(rule.endpoint, **values)
        for client in clients.values():
            client.get(url)
    assert fingerprint(runtime) == before

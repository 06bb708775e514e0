"""Issue 13 finding 8 (names): control and text-direction characters are refused in every name — person,
company, group, connection point — at the edge, with a clear message and nothing changed (both databases:
a NUL reached PostgreSQL as a 500)."""

from __future__ import annotations

import pytest

from ca.errors import BadRequestError
from cli.main import cli
from tests.portal.support import login, post
from tests.support.ledger import snapshot

HOSTILE = ["Eve\x00Admin", "Eve\u202eNIMDA", "Eve\u2066x\u2069", "Eve\u200bAdmin", "Eve\nAdmin", "Eve\tAdmin",
           "Eve\x7fAdmin", "Eve\u2028Admin", "Eve\u061cAdmin", "Eve\ufeffAdmin"]


@pytest.mark.parametrize("name", HOSTILE)
def test_the_one_rule_refuses_control_and_bidi_characters(name):
    from ca.x509.names import validate_display_name

    with pytest.raises(BadRequestError, match=r"U\+[0-9A-F]{4} at position 4 is not allowed"):
        validate_display_name(name, "full name")


@pytest.mark.parametrize("name", ["Zoé Lambert", "Jean-Marc O'Neil", "Σοφία", "李小龙", "مريم", "  spaced   out "])
def test_ordinary_names_pass(name):
    from ca.x509.names import validate_display_name

    assert validate_display_name(name, "full name") == " ".join(name.split())


@pytest.mark.parametrize("name", ["Eve\x00Admin", "Eve\u202eNIMDA"])
def test_every_edge_refuses_hostile_names(client, world, runtime, environ, name):
    from click.testing import CliRunner

    before = snapshot(runtime)
    signup = post(client, "/signup", {"email": "eve@example.com", "full_name": name})
    assert signup.status_code == 400 and "not allowed" in signup.get_data(as_text=True)
    login(client, world.emails["alice"])
    invite = post(client, "/admin/users", {"email": "eve@example.com", "full_name": name, "role": "user"})
    assert invite.status_code == 400 and "not allowed" in invite.get_data(as_text=True)
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    group = client.post("/api/v1/company/groups", json={"name": name}, headers={"X-CSRF-Token": token})
    assert group.status_code == 400 and "not allowed" in group.get_json()["error"]["message"]
    rename = client.patch(f"/api/v1/company/groups/{world.groups['A']}", json={"name": name},
                          headers={"X-CSRF-Token": token})
    assert rename.status_code == 400
    invited = client.post("/api/v1/company/users", json={"email": "eve@example.com", "full_name": name},
                          headers={"X-CSRF-Token": token})
    assert invited.status_code == 400
    operator = client.application.test_client()
    login(operator, world.emails["oscar"])
    company = post(operator, "/operator/companies", {"eic": "10X1001A1001A094", "name": name})
    assert company.status_code == 400 and "not allowed" in company.get_data(as_text=True)
    result = CliRunner(env=environ).invoke(cli, ["company", "create", "--eic", "10X1001A1001A094", "--name", name])
    assert result.exit_code == 1 and result.output.startswith("error: company name: character U+")
    assert result.output.count("\n") == 1
    counts = snapshot(runtime)
    assert {k: v for k, v in counts.items() if k != "audit_events"} == {
        k: v for k, v in before.items() if k != "audit_events"}
    with runtime.sessionmaker() as session:
        from ca.ledger.audit import list_events
        assert not [e for e in list_events(session, limit=50) if e.action in (
            "group.created", "group.updated", "user.invited", "company.created", "user.signed_up")
            and e.id > before["audit_events"]]

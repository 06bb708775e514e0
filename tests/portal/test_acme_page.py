"""The company administrator's ACME page: EAB credentials created with CSRF, shown once, bound to the
administrator's company; the company's ACME accounts listed; users and other companies see nothing."""

from __future__ import annotations

import re

import josepy as jose

from ca.actor import cli_operator
from ca.audit_trail import company_audit_trail
from ca.ledger import acme_store
from enrollment.acme_server.domains import add_company_domain
from tests.conftest import EIC, OTHER_EIC
from tests.portal.support import login, post


def test_admin_creates_eab_credentials_for_their_company(app, client, world, runtime):
    add_company_domain(runtime, cli_operator("t"), company_eic=EIC, domain="example.test")
    login(client, world.emails["alice"])
    page = client.get("/admin/acme").get_data(as_text=True)
    assert "example.test" in page and "/acme/directory" in page and "No ACME account yet" in page
    assert client.post("/admin/acme/eab").status_code == 400  # no CSRF token: refused, nothing created
    answer = post(client, "/admin/acme/eab")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    text = answer.get_data(as_text=True)
    kid = re.search(r"kid: <code class=\"mono\">(kid-[\w-]+)</code>", text).group(1)
    key = re.search(r"hmac_key: <code class=\"mono\">([\w-]+)</code>", text).group(1)
    assert len(jose.b64decode(key)) == 32
    company_id = world.actor("alice").company_id
    with runtime.sessionmaker() as session:
        row = acme_store.find_eab_key(session, kid)
        assert row is not None and row.hmac_key == jose.b64decode(key) and row.company_id == company_id
    assert key not in client.get("/admin/acme").get_data(as_text=True)  # shown once
    events = company_audit_trail(runtime, cli_operator("t"), company_eic=EIC)
    assert events[0].action == "acme.eab.created" and "alice@example.com" in events[0].actor
    assert not [e for e in company_audit_trail(runtime, cli_operator("t"), company_eic=OTHER_EIC)
                if e.action == "acme.eab.created"]


def test_users_may_not_create_eab_credentials(app, client, world, runtime):
    login(client, world.emails["carol"])
    assert client.get("/admin/acme").status_code == 403
    assert post(client, "/admin/acme/eab").status_code == 403
    assert not [e for e in company_audit_trail(runtime, cli_operator("t"), company_eic=EIC)
                if e.action == "acme.eab.created"]

"""Issue 15 item 3, acceptance: an operator replaces a company's first administrator through the portal; the
old one loses the role at the very next click; both are told by e-mail (a real SMTP server on loopback); the
change is audited. Bad inputs change nothing."""

from __future__ import annotations

import json

from sqlalchemy import select

from ca.ledger import portal_store
from ca.ledger.models import AuditEvent
from tests.conftest import EIC
from tests.portal.support import login, post
from tests.support.ledger import snapshot


def _user(runtime, email):
    with runtime.sessionmaker() as session:
        return portal_store.find_user_by_email(session, email)


def _events(runtime, action):
    with runtime.sessionmaker() as session:
        return [json.loads(e.details) for e in session.execute(
            select(AuditEvent).where(AuditEvent.action == action)).scalars()]


def test_promote_a_member_and_demote_the_old_one(app, world, mailbox):
    runtime = world.runtime
    alice, bob, oscar = app.test_client(), app.test_client(), app.test_client()
    login(alice, world.emails["alice"])
    login(bob, world.emails["bob"])
    login(oscar, world.emails["oscar"])
    assert alice.get("/admin/company").status_code == 200 and bob.get("/admin/company").status_code == 403
    page = oscar.get(f"/operator/companies/{EIC}").get_data(as_text=True)
    assert "Replace the first administrator" in page and "Designate the first administrator" not in page
    done = post(oscar, f"/operator/companies/{EIC}/first-admin",
                {"email": world.emails["bob"], "old_becomes": "admin"})
    assert done.status_code == 302
    assert alice.get("/admin/company").status_code == 403  # the very next click
    assert bob.get("/admin/company").status_code == 200
    assert alice.get("/admin/users").status_code == 200  # still an administrator
    assert (_user(runtime, world.emails["alice"]).role, _user(runtime, world.emails["bob"]).role) == \
        ("admin", "first-admin")
    to_bob = mailbox.wait_for(world.emails["bob"])[-1]
    to_alice = mailbox.wait_for(world.emails["alice"])[-1]
    assert "You are now the first administrator" in to_bob["Subject"]
    assert "no longer the first administrator" in to_alice["Subject"]
    assert "one of its administrators" in to_alice.get_content()
    assert _events(runtime, "company.first_admin_replaced")[-1] == {
        "old": world.emails["alice"], "new": world.emails["bob"], "new_invited": False, "old_becomes": "admin"}


def test_invite_a_new_address_and_detach_the_old_one(app, world, mailbox):
    runtime = world.runtime
    oscar = app.test_client()
    login(oscar, world.emails["oscar"])
    done = post(oscar, f"/operator/companies/{EIC}/first-admin",
                {"email": "new.head@example.com", "full_name": "Nouvelle Directrice", "old_becomes": "detached"})
    assert done.status_code == 302
    new = _user(runtime, "new.head@example.com")
    assert (new.role, new.status) == ("first-admin", "invited")
    old = _user(runtime, world.emails["alice"])
    assert old.company_id is None
    link = mailbox.last_link("new.head@example.com")
    assert "/activate/" in link and oscar.get(link[link.index("/activate/"):]).status_code == 200
    assert "detached" in mailbox.wait_for(world.emails["alice"])[-1].get_content()
    assert _events(runtime, "user.detached")[-1]["role"] == "admin"
    assert _events(runtime, "company.first_admin_replaced")[-1]["new_invited"] is True


def test_refusals_change_nothing(app, world):
    oscar = app.test_client()
    login(oscar, world.emails["oscar"])
    before = snapshot(world.runtime)
    url = f"/operator/companies/{EIC}/first-admin"
    cases = [({"email": world.emails["erin"], "old_becomes": "admin"}, 409),  # another company's person
             ({"email": world.emails["alice"], "old_becomes": "admin"}, 400),  # already the first administrator
             ({"email": world.emails["bob"], "old_becomes": "fired"}, 400),
             ({"email": "not an address", "old_becomes": "admin"}, 400)]
    for data, status in cases:
        assert post(oscar, url, data).status_code == status, data
    assert snapshot(world.runtime) == before
    alice = app.test_client()
    login(alice, world.emails["alice"])
    assert post(alice, url, {"email": world.emails["bob"], "old_becomes": "admin"}).status_code == 403


def test_operator_search_finds_certificates_people_and_companies(client, world):
    from tests.revocation.helpers import issue

    issued = issue(world.runtime, world.actor("carol"), world.emails["carol"])
    login(client, world.emails["oscar"])
    colons = ":".join(issued.serial.upper()[i:i + 2] for i in range(0, len(issued.serial), 2))
    for typed in (issued.serial, colons):
        page = client.get("/operator/search", query_string={"q": typed}).get_data(as_text=True)
        assert f'data-certificate="{issued.serial}"' in page and "organizationIdentifier=" in page, typed
    person = client.get("/operator/search?q=CAROL@example.com").get_data(as_text=True)
    assert 'data-person="carol@example.com"' in person
    by_eic = client.get(f"/operator/search?q={EIC.lower()}").get_data(as_text=True)
    assert f'data-company="{EIC}"' in by_eic
    by_name = client.get("/operator/search?q=other gr").get_data(as_text=True)
    assert 'data-company="' in by_name and "Other Grid" in by_name
    assert client.get("/operator/search?q=" + "x" * 300).status_code == 400
    admin = client.application.test_client()
    login(admin, world.emails["alice"])
    assert admin.get("/operator/search?q=carol@example.com").status_code == 403

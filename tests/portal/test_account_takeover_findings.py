"""Issue 13 findings 3 and 6: an unconfirmed self-sign-up never blocks or hijacks an invitation, nobody's
password survives a confirmation they did not make, unconfirmed sign-ups expire; a change of password
retires every outstanding reset and activation link and ends the other sessions."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

from ca.ledger import portal_store
from tests.conftest import EIC
from tests.portal.support import PASSWORD, login, post

VICTIM = "victor.real@example.com"
SQUATTER_PASSWORD = "the squatter chose this one"
VICTIM_PASSWORD = "only the mailbox owner knows"


def _path(link: str) -> str:
    return urlparse(link).path


def _user(runtime, email: str):
    with runtime.sessionmaker() as session:
        return portal_store.find_user_by_email(session, email)


def _squat(client):
    response = post(client, "/signup", {"email": VICTIM, "full_name": "Victor Real", "password": SQUATTER_PASSWORD,
                                        "company_eic": EIC})
    assert response.status_code == 200


def test_squatting_then_invitation_leaves_the_account_to_the_mailbox_owner(client, world, mailbox, runtime):
    squatter = client.application.test_client()
    _squat(squatter)
    confirm_link = _path(mailbox.last_link(VICTIM))
    # The administrator invites the real person: no 409, the invitation takes the unconfirmed account over.
    admin = client.application.test_client()
    login(admin, world.emails["alice"])
    invited = post(admin, "/admin/users", {"email": VICTIM, "full_name": "Victor Real", "role": "user"})
    assert invited.status_code == 302, invited.get_data(as_text=True)[:300]
    user = _user(runtime, VICTIM)
    assert user.status == "invited" and user.password_hash is None and user.company_id is not None
    activation_link = _path(mailbox.last_link(VICTIM, count=2))
    # The squatter's confirmation link is dead, the squatter's password useless.
    assert client.get(confirm_link).status_code == 404
    login(squatter, VICTIM, SQUATTER_PASSWORD, expect=401)
    # The real owner sets their password from the invitation and holds the account.
    assert post(client, activation_link, {"password": VICTIM_PASSWORD,
                                          "password_confirmation": VICTIM_PASSWORD}).status_code == 302
    login(client, VICTIM, VICTIM_PASSWORD)
    assert client.get("/certificates/new").status_code == 200
    login(squatter, VICTIM, SQUATTER_PASSWORD, expect=401)
    assert _user(runtime, VICTIM).status == "active"


def test_squatting_then_confirmation_by_the_owner_discards_the_squatters_password(client, world, mailbox, runtime):
    squatter = client.application.test_client()
    _squat(squatter)
    link = _path(mailbox.last_link(VICTIM))
    # The real owner clicks the confirmation: it asks for a password, and only theirs is kept.
    page = client.get(link).get_data(as_text=True)
    assert 'name="password"' in page
    assert post(client, link).status_code == 400  # no password chosen: nothing confirmed
    assert _user(runtime, VICTIM).status == "unconfirmed"
    assert post(client, link, {"password": VICTIM_PASSWORD, "password_confirmation": VICTIM_PASSWORD}
                ).status_code == 302
    assert _user(runtime, VICTIM).status == "pending"
    admin = client.application.test_client()
    login(admin, world.emails["bob"])
    assert post(admin, f"/admin/users/{_user(runtime, VICTIM).id}/approve").status_code == 302
    login(squatter, VICTIM, SQUATTER_PASSWORD, expect=401)
    login(client, VICTIM, VICTIM_PASSWORD)
    assert client.get("/certificates/new").status_code == 200


def test_an_unconfirmed_sign_up_expires(client, world, mailbox, runtime, clock):
    _squat(client.application.test_client())
    first = _path(mailbox.last_link(VICTIM))
    clock.advance(timedelta(hours=73))
    # Someone signs up again with the address: the stale sign-up is replaced, not defended.
    again = post(client, "/signup", {"email": VICTIM, "full_name": "Victor Again", "company_eic": ""})
    assert again.status_code == 200
    second = _path(mailbox.last_link(VICTIM, count=2))
    assert second != first and client.get(first).status_code == 404
    user = _user(runtime, VICTIM)
    assert user.status == "unconfirmed" and user.full_name == "Victor Again" and user.company_id is None
    assert user.password_hash is None


def test_a_live_unconfirmed_sign_up_is_not_replaced_by_another(client, world, mailbox, runtime):
    _squat(client.application.test_client())
    post(client, "/signup", {"email": VICTIM, "full_name": "Someone Else", "company_eic": ""})
    assert _user(runtime, VICTIM).full_name == "Victor Real"


def test_changing_the_password_retires_reset_links_and_other_sessions(client, world, mailbox, runtime):
    carol = world.emails["carol"]
    assert post(client, "/password-reset", {"email": carol}).status_code == 200
    reset_link = _path(mailbox.last_link(carol))
    other = client.application.test_client()
    login(other, carol)
    login(client, carol)
    new = "a password carol chose on her profile"
    changed = post(client, "/profile/password", {"current_password": PASSWORD, "new_password": new,
                                                 "new_password_confirmation": new})
    assert changed.status_code == 302
    assert other.get("/home").status_code == 302  # the other session ended
    assert client.get(reset_link).status_code == 404
    stolen = "someone who read the old reset mail"
    post(client, reset_link, {"password": stolen, "password_confirmation": stolen})
    login(client, carol, stolen, expect=401)
    login(client, carol, new)

"""Issue 13 finding 8 (limits): failed logins are limited per (account, source address) with a growing
delay, so nobody can keep a person out from elsewhere; "resend activation" and join requests, which send
mail, are limited too."""

from __future__ import annotations

from tests.conftest import EIC
from tests.portal.support import PASSWORD, csrf_token, login, post

ATTACKER = {"REMOTE_ADDR": "203.0.113.9"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


def _login(client, email: str, password: str, environ: dict[str, str]):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)},
                       environ_base=environ)


def test_an_attacker_cannot_lock_the_owner_out(app, world):
    attacker, owner = app.test_client(), app.test_client()
    carol = world.emails["carol"]
    statuses = [_login(attacker, carol, "wrong password guess", ATTACKER).status_code for _ in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429
    first_throttle = statuses.index(429)
    assert first_throttle <= 10
    throttled = _login(attacker, carol, "wrong password guess", ATTACKER)
    # A growing delay, not a 15-minute lock: the first step is short.
    assert throttled.status_code == 429 and 0 < int(throttled.headers["Retry-After"]) <= 60
    assert _login(attacker, carol, PASSWORD, ATTACKER).status_code == 429  # checked before the password
    # The right password from the owner's address still logs in.
    assert _login(owner, carol, PASSWORD, OWNER).status_code == 302
    assert owner.get("/home", environ_base=OWNER).status_code == 200


def test_resend_activation_is_limited(client, world, mailbox, runtime):
    from ca.ledger import portal_store

    login(client, world.emails["alice"])
    post(client, "/admin/users", {"email": "yann@example.com", "full_name": "Yann Roux", "role": "user"})
    with runtime.sessionmaker() as session:
        yann = portal_store.find_user_by_email(session, "yann@example.com").id
    statuses = [post(client, f"/admin/users/{yann}/resend").status_code for _ in range(6)]
    assert statuses[0] == 302 and statuses[-1] == 429, statuses
    sent = len(mailbox.wait_for("yann@example.com", 1 + statuses.count(302)))
    assert sent <= 4


def test_join_requests_are_limited(client, world, mailbox, runtime):
    login(client, world.emails["nina"])
    admin = client.application.test_client()
    login(admin, world.emails["alice"])
    nina = world.id("nina")
    statuses = []
    for _ in range(5):
        statuses.append(post(client, "/profile/company", {"company_eic": EIC}).status_code)
        post(admin, f"/admin/users/{nina}/refuse")
    assert statuses[0] == 302 and statuses[-1] == 429, statuses
    asked = [m for m in mailbox.messages if "asks to join" in m["Subject"] and m["To"] == world.emails["alice"]]
    assert len(asked) == statuses.count(302) <= 3

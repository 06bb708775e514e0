"""Activation links by e-mail (through a real SMTP server on loopback), sign-up, password reset."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

from ca.ledger import portal_store
from tests.conftest import EIC
from tests.portal.support import PASSWORD, login, post
from tests.support.ledger import snapshot

NEW_PASSWORD = "a brand new sentence of mine"


def _path(link: str) -> str:
    return urlparse(link).path


def _status(runtime, email: str) -> str:
    with runtime.sessionmaker() as session:
        return portal_store.find_user_by_email(session, email).status


def test_operator_designates_a_first_admin_who_activates_from_the_mail(client, world, mailbox, runtime):
    login(client, world.emails["oscar"])
    response = post(client, f"/operator/companies/{EIC}/administrators",
                    {"email": "zoe@example.com", "full_name": "Zoé Lambert", "role": "first-admin"})
    assert response.status_code == 302
    assert _status(runtime, "zoe@example.com") == "invited"
    link = mailbox.last_link("zoe@example.com")
    assert link.startswith("http://127.0.0.1:8000/activate/")
    post(client, "/logout")
    before = snapshot(runtime)
    page = client.get(_path(link))
    assert page.status_code == 200 and "zoe@example.com" in page.get_data(as_text=True)
    assert snapshot(runtime) == before  # GET changes nothing
    response = post(client, _path(link), {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD})
    assert response.status_code == 302
    assert _status(runtime, "zoe@example.com") == "active"
    login(client, "zoe@example.com", NEW_PASSWORD)
    assert "first administrator" in client.get("/home").get_data(as_text=True)
    # The link worked once.
    assert client.get(_path(link)).status_code == 404


def test_admin_adds_a_user_and_the_link_expires_then_is_resent(client, world, mailbox, runtime, clock):
    login(client, world.emails["alice"])
    post(client, "/admin/users", {"email": "yann@example.com", "full_name": "Yann Roux", "role": "user"})
    first = mailbox.last_link("yann@example.com")
    clock.advance(timedelta(hours=73))
    assert client.get(_path(first)).status_code == 404
    login(client, world.emails["alice"])
    yann = portal_store_id(runtime, "yann@example.com")
    assert post(client, f"/admin/users/{yann}/resend").status_code == 302
    second = mailbox.last_link("yann@example.com", count=2)
    assert second != first
    assert client.get(_path(first)).status_code == 404
    assert client.get(_path(second)).status_code == 200
    post(client, "/logout")
    assert post(client, _path(second), {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
                ).status_code == 302
    login(client, "yann@example.com", NEW_PASSWORD)


def portal_store_id(runtime, email: str) -> int:
    with runtime.sessionmaker() as session:
        return portal_store.find_user_by_email(session, email).id


def test_a_weak_password_is_refused_and_changes_nothing(client, world, mailbox, runtime):
    login(client, world.emails["alice"])
    post(client, "/admin/users", {"email": "yann@example.com", "full_name": "Yann Roux"})
    link = _path(mailbox.last_link("yann@example.com"))
    before = snapshot(runtime)
    for weak in ("short", "Password123!", "azertyuiop", "x" * 129):
        response = post(client, link, {"password": weak, "password_confirmation": weak})
        assert response.status_code == 400, weak
    response = post(client, link, {"password": NEW_PASSWORD, "password_confirmation": "different"})
    assert response.status_code == 400 and "differ" in response.get_data(as_text=True)
    assert snapshot(runtime) == before
    assert _status(runtime, "yann@example.com") == "invited"
    long_password = "words " * 21  # 126 characters are accepted (ASVS: at least 64)
    assert post(client, link, {"password": long_password, "password_confirmation": long_password}).status_code == 302


def test_signup_without_company_can_log_in_but_not_request(client, world, mailbox, runtime):
    response = post(client, "/signup", {"email": "sam@free.example", "full_name": "Sam Libre", "password": PASSWORD})
    assert response.status_code == 200 and "Check your mailbox" in response.get_data(as_text=True)
    login(client, "sam@free.example", expect=401)  # not confirmed yet
    link = _path(mailbox.last_link("sam@free.example"))
    assert post(client, link, {"password": PASSWORD, "password_confirmation": PASSWORD}).status_code == 302
    login(client, "sam@free.example")
    assert "You do not belong to a company" in client.get("/home").get_data(as_text=True)
    before = snapshot(runtime)
    assert client.get("/certificates/new").status_code == 403
    assert post(client, "/certificates/generate", {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
                ).status_code == 403
    assert snapshot(runtime) == before


def test_signup_naming_a_company_waits_for_its_administrator(client, world, mailbox, runtime):
    post(client, "/signup", {"email": "sam@example.com", "full_name": "Sam Joiner", "password": PASSWORD,
                             "company_eic": EIC.lower()})
    post(client, _path(mailbox.last_link("sam@example.com")), {"password": PASSWORD, "password_confirmation": PASSWORD})
    assert _status(runtime, "sam@example.com") == "pending"
    # The company's administrators are told.
    assert any("asks to join" in m["Subject"] for m in mailbox.wait_for(world.emails["alice"]))
    login(client, "sam@example.com")
    assert "Waiting for your company" in client.get("/home").get_data(as_text=True)
    assert client.get("/certificates/new").status_code == 403
    admin = client.application.test_client()
    login(admin, world.emails["bob"])
    sam = portal_store_id(runtime, "sam@example.com")
    assert post(admin, f"/admin/users/{sam}/approve").status_code == 302
    assert _status(runtime, "sam@example.com") == "active"
    assert client.get("/certificates/new").status_code == 200  # the same session, at the next click


def test_signup_with_an_existing_address_reveals_nothing(client, world, mailbox, runtime):
    before = snapshot(runtime)
    response = post(client, "/signup", {"email": world.emails["carol"], "full_name": "Not Carol", "password": PASSWORD})
    assert response.status_code == 200 and "Check your mailbox" in response.get_data(as_text=True)
    assert snapshot(runtime) == before
    assert "already have an account" in mailbox.wait_for(world.emails["carol"])[-1]["Subject"]


def test_signup_refuses_a_bad_eic_and_changes_nothing(client, world, runtime):
    before = snapshot(runtime)
    response = post(client, "/signup", {"email": "sam@example.com", "full_name": "Sam", "password": PASSWORD,
                                        "company_eic": "10XDEMO-PRODUCE3"})
    assert response.status_code == 400 and "check character" in response.get_data(as_text=True).lower()
    assert snapshot(runtime) == before


def test_password_reset(client, world, mailbox, runtime):
    response = post(client, "/password-reset", {"email": world.emails["carol"]})
    unknown = post(client, "/password-reset", {"email": "ghost@example.com"})
    assert response.get_data(as_text=True) == unknown.get_data(as_text=True)
    link = _path(mailbox.last_link(world.emails["carol"]))
    other = client.application.test_client()
    login(other, world.emails["carol"])
    assert post(client, link, {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}).status_code == 302
    assert other.get("/home").status_code == 302  # every session ended with the old password
    login(client, world.emails["carol"], NEW_PASSWORD)
    login(client, world.emails["carol"], PASSWORD, expect=401)


def test_outbox_is_the_default(client, world, settings):
    login(client, world.emails["alice"])
    post(client, "/admin/users", {"email": "yann@example.com", "full_name": "Yann Roux"})
    files = list(settings.portal.outbox_dir.glob("*.eml"))
    assert len(files) == 1 and "/activate/" in files[0].read_text()
    assert files[0].stat().st_mode & 0o077 == 0

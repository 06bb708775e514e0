"""French and English (issue 15 item 1): which language a page is in, the switch, translated errors."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from sqlalchemy import select

from ca.errors import BadRequestError
from ca.ledger import portal_store
from ca.ledger.models import AuditEvent
from ca.settings import load_settings
from tests.portal.support import csrf_token, login, post
from tests.support.ledger import snapshot

LANG = re.compile(r'<html lang="([a-z]+)">')


def _lang(response) -> str:
    match = LANG.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:300]
    return match.group(1)


@pytest.fixture
def french_default(runtime):
    """The site default of config/default.toml (the suite's own settings read English)."""
    portal = dataclasses.replace(runtime.settings.portal, default_locale="fr")
    runtime.settings = dataclasses.replace(runtime.settings, portal=portal)


def _saved_locale(runtime, email: str) -> str | None:
    with runtime.sessionmaker() as session:
        user = portal_store.find_user_by_email(session, email)
        assert user is not None
        return user.locale


def test_accept_language_picks_the_page_language(client, french_default):
    french = client.get("/login", headers={"Accept-Language": "fr"})
    assert french.status_code == 200 and _lang(french) == "fr"
    body = french.get_data(as_text=True)
    assert "Se connecter" in body and "Mot de passe oublié ?" in body and "Log in" not in body
    english = client.get("/login", headers={"Accept-Language": "en"})
    assert _lang(english) == "en"
    body = english.get_data(as_text=True)
    assert "Log in" in body and "Forgot your password?" in body and "Se connecter" not in body
    # The best supported match of the header's list (RFC 9110 §12.5.4), whatever its region subtag.
    assert _lang(client.get("/login", headers={"Accept-Language": "de-DE, en-GB;q=0.8, fr;q=0.5"})) == "en"
    assert _lang(client.get("/login", headers={"Accept-Language": "fr-CA, en;q=0.9"})) == "fr"


def test_without_a_supported_language_the_site_default_answers(app, client, runtime, french_default):
    assert _lang(client.get("/login")) == "fr"
    assert _lang(client.get("/login", headers={"Accept-Language": "de, it;q=0.5"})) == "fr"
    runtime.settings = dataclasses.replace(
        runtime.settings, portal=dataclasses.replace(runtime.settings.portal, default_locale="en"))
    assert _lang(client.get("/login", headers={"Accept-Language": "de"})) == "en"


def test_every_page_has_the_switch_to_the_other_language(client, world, french_default):
    for path in ("/login", "/signup", "/password-reset"):
        body = client.get(path, headers={"Accept-Language": "fr"}).get_data(as_text=True)
        assert 'action="/language"' in body and 'name="locale" value="en"' in body, path
        assert f'name="next" value="{path}"' in body
        assert 'name="locale" value="fr"' not in body  # the page is already in French
    login(client, world.emails["alice"])
    for path in ("/home", "/profile", "/admin/users", "/admin/groups", "/admin/audit"):
        body = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert 'name="locale" value="fr"' in body and 'csrf_token' in body, path


def test_an_anonymous_choice_is_kept_in_the_session_and_returns_to_the_page(client, french_default):
    response = post(client, "/language", {"locale": "en", "next": "/signup"}, headers={"Accept-Language": "fr"})
    assert response.status_code == 302 and response.headers["Location"] == "/signup"
    page = client.get("/signup", headers={"Accept-Language": "fr"})
    assert _lang(page) == "en" and "Create an account" in page.get_data(as_text=True)


def test_an_anonymous_choice_survives_login_and_logout(client, runtime, world, french_default):
    post(client, "/language", {"locale": "en", "next": "/login"}, headers={"Accept-Language": "fr"})
    login(client, world.emails["carol"])
    assert _lang(client.get("/home", headers={"Accept-Language": "fr"})) == "en"
    assert _saved_locale(runtime, world.emails["carol"]) is None  # kept in the cookie, not saved unasked
    response = post(client, "/logout", follow_redirects=True, headers={"Accept-Language": "fr"})
    assert _lang(response) == "en" and "You are logged out." in response.get_data(as_text=True)


def test_the_logout_message_is_in_the_page_language(client, world, french_default):
    login(client, world.emails["carol"])
    response = post(client, "/logout", follow_redirects=True, headers={"Accept-Language": "fr"})
    assert "Vous êtes déconnecté." in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "%2F%2Fevil"])
def test_the_switch_never_sends_elsewhere(client, target):
    response = post(client, "/language", {"locale": "fr", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"


def test_a_saved_choice_wins_over_the_browser(client, runtime, world, french_default):
    email = world.emails["carol"]
    login(client, email)
    assert _lang(client.get("/home", headers={"Accept-Language": "en"})) == "en"
    response = post(client, "/language", {"locale": "fr", "next": "/profile"}, headers={"Accept-Language": "en"})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert _saved_locale(runtime, email) == "fr"
    post(client, "/logout")
    client.delete_cookie("portail")  # as from a new browser: nothing but the saved choice remembers it
    login(client, email)
    home = client.get("/home", headers={"Accept-Language": "en"})
    assert _lang(home) == "fr" and "Obtenir un certificat" in home.get_data(as_text=True)
    with runtime.sessionmaker() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.locale_changed")).all()
        assert [(e.actor, e.object_id, json.loads(e.details)) for e in events] == [
            (email, email, {"from": None, "to": "fr"})]


def test_the_switch_without_its_csrf_token_is_refused_and_changes_nothing(client, runtime, world):
    email = world.emails["carol"]
    login(client, email)
    response = client.post("/language", data={"locale": "fr", "next": "/home"})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert _saved_locale(runtime, email) is None


@pytest.mark.parametrize("locale", ["de", "", "FR", "fr-FR" * 10])
def test_an_unsupported_language_is_a_400_that_names_the_supported_ones(client, runtime, world, locale):
    email = world.emails["carol"]
    login(client, email)
    before = snapshot(runtime)
    response = post(client, "/language", {"locale": locale, "next": "/home"})
    assert response.status_code == 400
    assert "the language must be one of fr, en" in response.get_data(as_text=True)
    assert snapshot(runtime) == before


def test_use_case_errors_and_error_pages_are_translated(client, world, french_default):
    refused = client.post("/login", headers={"Accept-Language": "fr"},
                          data={"email": world.emails["carol"], "password": "wrong", "csrf_token": csrf_token(client)})
    assert refused.status_code == 401
    assert "adresse e-mail ou mot de passe incorrect" in refused.get_data(as_text=True)
    missing = client.get("/no-such-page", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404 and "<h1>Introuvable</h1>" in missing.get_data(as_text=True)
    english = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert "<h1>Not found</h1>" in english.get_data(as_text=True)


def test_the_public_pages_messages_are_translated(client, world, french_default):
    sent = post(client, "/password-reset", {"email": world.emails["carol"]}, headers={"Accept-Language": "fr"})
    body = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "<h1>Consultez votre messagerie</h1>" in body
    assert "un lien pour choisir un nouveau mot de passe vous a été envoyé" in body
    login(client, world.emails["alice"])
    profile = client.get("/profile", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "<td>premier administrateur</td>" in profile and "<th>Rôle</th>" in profile


def test_a_message_with_values_is_translated_with_its_values(app):
    from webapp.i18n import translate_message

    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert translate_message("the password must have at least 12 characters") == \
            "le mot de passe doit comporter au moins 12 caractères"
        assert translate_message("invalid e-mail address '<x>'") == "adresse e-mail non valide : '<x>'"
        assert translate_message("a message nobody translated") == "a message nobody translated"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert translate_message("the password must have at least 12 characters") == \
            "the password must have at least 12 characters"


def test_the_api_keeps_english_messages(client, french_default):
    response = client.get("/api/v1/me", headers={"Accept-Language": "fr"})
    assert response.status_code == 401
    assert response.get_json()["error"]["message"].startswith("log in first")


def test_the_site_default_must_be_a_supported_language(environ):
    with pytest.raises(BadRequestError, match="portal.default_locale must be one of fr, en, not 'de'"):
        load_settings(None, {**environ, "PKI_PORTAL__DEFAULT_LOCALE": "de"})
    assert load_settings(None, {k: v for k, v in environ.items() if k != "PKI_PORTAL__DEFAULT_LOCALE"}
                         ).portal.default_locale == "fr"

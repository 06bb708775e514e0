"""French and English (issue 15 item 1): which language a page is in, the switch, translated errors."""

from __future__ import annotations

import dataclasses
import html
import json
import re

import pytest
from sqlalchemy import select

from ca.errors import BadRequestError
from ca.ledger import portal_store
from ca.ledger.models import AuditEvent
from ca.settings import load_settings
from tests.conftest import EIC
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


# --- Every area in French (issue 15 item 1): pages, the front office's refusals, the e-mails ---------------

def _issue(runtime, world, name: str):
    from ca.issuance import issue_certificate
    from tests.vectors.bad_csrs import good_csr

    _key, csr = good_csr("ec-p256")
    return issue_certificate(runtime, world.actor(name), csr_data=csr, user_email=world.emails[name])


def test_the_certificate_page_in_french(client, runtime, world):
    from enrollment.accounts.language import save_locale

    issued = _issue(runtime, world, "carol")
    save_locale(runtime, world.actor("carol"), "fr")  # the saved choice, whatever the browser says
    login(client, world.emails["carol"])
    page = client.get(f"/certificates/{issued.serial}", headers={"Accept-Language": "en"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and _lang(page) == "fr", body[:300]
    assert "Télécharger" in body and "votre clé privée reste là où elle a été créée" in body
    assert re.search(r"expire dans \d+ jours", body) and ">émis<" in body
    assert "Download" not in body and "expires in" not in body and "Request deletion" not in body
    revoke = html.unescape(client.get(f"/certificates/{issued.serial}/revoke").get_data(as_text=True))
    assert "Supprimer mon certificat" in revoke and "Je n'en ai plus besoin" in revoke, revoke[-1500:]
    assert "I no longer need it" not in revoke


def test_admin_certificates_and_dashboards_in_french(client, runtime, world):
    _issue(runtime, world, "carol")
    login(client, world.emails["alice"])
    page = client.get("/admin/certificates", headers={"Accept-Language": "fr"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and _lang(page) == "fr"
    assert "Certificats de Demo Producer" in body and "Exporter en CSV" in body and ">émis<" in body
    assert "Export CSV" not in body and "Valid until" not in body
    requests = client.get("/admin/requests", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Demandes de certificat" in requests and ">en attente</option>" in requests
    assert "Certificate requests" not in requests
    board = client.get("/admin/dashboard", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Tableau de bord de Demo Producer" in board and "Demandes en attente" in board
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, world.emails["oscar"])
    operator = client.get("/operator/dashboard", headers={"Accept-Language": "fr"})
    text = operator.get_data(as_text=True)
    assert operator.status_code == 200 and _lang(operator) == "fr", text[:300]
    assert "<h2>Entreprises</h2>" in text and "<h2>Certificats en vigueur</h2>" in text
    assert "Fraîcheur des CRL et des réponses OCSP par autorité" in text and "Live certificates" not in text
    companies = client.get("/operator/companies", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Enregistrer une entreprise" in companies and "Register a company" not in companies
    company = html.unescape(client.get(f"/operator/companies/{EIC}",
                                       headers={"Accept-Language": "fr"}).get_data(as_text=True))
    assert "Points de connexion" in company and "Remplacer le premier administrateur" in company, company[-2000:]
    assert re.search(r"\d+ comptes ; règle d'approbation : ", company) and "Connection points" not in company


class _TLSSocket:
    """What gunicorn hands the gate in direct mode: the peer's certificate, DER."""

    def __init__(self, der: bytes | None) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        return self.der


def test_front_office_refusals_follow_accept_language(runtime, world):
    from cryptography.hazmat.primitives.serialization import Encoding
    from werkzeug.test import Client

    from ca.revoke import revoke_certificate
    from webapp.frontoffice import create_frontoffice

    client = Client(create_frontoffice(runtime, mode="direct"))
    french = client.get("/", headers={"Accept-Language": "fr-FR, en;q=0.5"})
    body = html.unescape(french.get_data(as_text=True))
    assert french.status_code == 403 and "Accès refusé" in body and '<html lang="fr">' in body, body
    assert "Votre navigateur n'a présenté aucun certificat client." in body
    assert f"ou demandez-en un sur {runtime.settings.portal.base_url}" in body and "Code du motif :" in body
    assert "Access refused" not in body and 'data-code="no_certificate"' in body
    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Access refused" in english and "Your browser did not present a client certificate." in english
    # A message with values: the values kept, the revocation reason itself translated.
    issued = _issue(runtime, world, "carol")
    revoke_certificate(runtime, world.actor("carol"), serial=issued.serial, reason="cessationOfOperation")
    der = issued.certificate.public_bytes(Encoding.DER)
    revoked = client.get("/", environ_base={"gunicorn.socket": _TLSSocket(der)}, headers={"Accept-Language": "fr"})
    text = html.unescape(revoked.get_data(as_text=True))
    assert revoked.status_code == 403 and 'data-code="revoked"' in text
    assert re.search(r"Ce certificat a été révoqué le \d{4}-\d\d-\d\d \d\d:\d\d UTC "
                     r"\(il n'est plus utile\)\.", text), text
    # Without a supported language, the site default (the suite's: English; config/default.toml: French).
    assert "Access refused" in client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    runtime.settings = dataclasses.replace(
        runtime.settings, portal=dataclasses.replace(runtime.settings.portal, default_locale="fr"))
    assert "Accès refusé" in Client(create_frontoffice(runtime, mode="direct")).get("/").get_data(as_text=True)
    # The pages behind the gate too: a valid certificate, no Accept-Language, the French site default.
    valid = _issue(runtime, world, "dave")
    socket = _TLSSocket(valid.certificate.public_bytes(Encoding.DER))
    home = html.unescape(Client(create_frontoffice(runtime, mode="direct")).get(
        "/", environ_base={"gunicorn.socket": socket}).get_data(as_text=True))
    assert '<html lang="fr">' in home and "Bienvenue, Dave Leroy." in home and "Welcome" not in home, home


def test_expiry_warnings_speak_the_recipients_language(runtime, world):
    from datetime import timedelta
    from email import message_from_bytes, policy

    from ca.actor import SYSTEM
    from enrollment.accounts.language import save_locale
    from enrollment.notices.run import run_notices

    carol, dave = _issue(runtime, world, "carol"), _issue(runtime, world, "dave")
    save_locale(runtime, world.actor("carol"), "fr")
    save_locale(runtime, world.actor("dave"), "en")
    report = run_notices(runtime, SYSTEM, as_of=carol.certificate.not_valid_after_utc - timedelta(days=30))
    assert report.failed == 0
    mails = {m["To"]: m for m in (message_from_bytes(p.read_bytes(), policy=policy.default)
                                  for p in sorted(runtime.settings.portal.outbox_dir.glob("*.eml")))}
    french, english = mails[world.emails["carol"]], mails[world.emails["dave"]]
    assert french["Subject"] == "Votre certificat expire dans 30 jours"
    text = french.get_body(("plain",)).get_content()
    html = french.get_body(("html",)).get_content()
    assert text.startswith("Bonjour Carol") and f"Votre certificat {carol.serial[:16]} pour Demo Producer" in text
    assert f"Renouveler votre certificat: {runtime.settings.portal.base_url.rstrip('/')}" in text
    assert "Renouvelez-le dès maintenant" in html and "Renew" not in text + html
    assert english["Subject"] == "Your certificate expires in 30 days"
    body = english.get_body(("plain",)).get_content()
    assert body.startswith("Hello ") and f"Your certificate {dave.serial[:16]} for Demo Producer" in body
    assert "Bonjour" not in body


def test_flash_messages_in_french(client, world):
    login(client, world.emails["alice"])
    created = post(client, "/admin/groups", {"name": "Exploitants"}, headers={"Accept-Language": "fr"},
                   follow_redirects=True)
    body = html.unescape(created.get_data(as_text=True))
    assert created.status_code == 200 and "Groupe Exploitants créé : choisissez maintenant ses membres" in body
    assert "now choose its members" not in body


def test_a_form_check_of_the_core_is_shown_in_french(client, world):
    """The CSR checks (ca.x509.csr) raise English; the French page shows them in French, the API keeps English."""
    login(client, world.emails["carol"])
    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
    french = post(client, "/certificates/upload", {"csr": pem}, headers={"Accept-Language": "fr"})
    body = html.unescape(french.get_data(as_text=True))
    assert french.status_code == 400
    assert "le bloc PEM est 'CERTIFICATE', alors que 'CERTIFICATE REQUEST' est attendu" in body
    english = post(client, "/certificates/upload", {"csr": ""}, headers={"Accept-Language": "en"})
    assert english.status_code == 400 and "CSR is empty" in html.unescape(english.get_data(as_text=True))


def test_an_unknown_address_answers_in_french(client):
    """Werkzeug's descriptions are English only: the page says its own words; the JSON API keeps werkzeug's."""
    page = client.get("/no/such/page", headers={"Accept-Language": "fr"})
    body = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 404 and "il n'y a pas de page à cette adresse" in body and "requested URL" not in body
    api = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "fr"})
    assert api.status_code == 404 and "requested URL" in api.get_json()["error"]["message"]

"""E-mails speak their recipient's language (issue 15 item 1): the saved choice, else the language of the page
that sent them (sign-up, password reset), else the site default."""

from __future__ import annotations

import re
from email.message import EmailMessage

from enrollment.accounts.language import save_locale
from enrollment.requests.approval import set_approval_policy
from tests.portal.support import login, post
from tests.vectors.bad_csrs import good_csr


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return f"{message['Subject']}\n{body.get_content()}"


def _save_locale(runtime, world, name: str, locale: str) -> None:
    save_locale(runtime, world.actor(name), locale)


def test_a_reset_mail_follows_the_saved_choice_then_the_page(client, world, mailbox, runtime):
    carol, dave = world.emails["carol"], world.emails["dave"]
    _save_locale(runtime, world, "carol", "fr")
    post(client, "/password-reset", {"email": carol}, headers={"Accept-Language": "en"})
    french = _text(mailbox.wait_for(carol)[-1])
    assert "Choisissez un nouveau mot de passe" in french and "Bonjour" in french and "expire le" in french
    assert "Choose a new password" not in french
    post(client, "/password-reset", {"email": dave}, headers={"Accept-Language": "fr"})  # nothing saved
    assert "Ouvrez ce lien" in _text(mailbox.wait_for(dave)[-1])
    post(client, "/password-reset", {"email": dave}, headers={"Accept-Language": "en"})
    english = _text(mailbox.wait_for(dave, count=2)[-1])
    assert "Open this link to choose it" in english and "Bonjour" not in english


def test_a_decision_mail_is_in_the_requester_language(client, world, mailbox, runtime, app):
    carol = world.emails["carol"]
    _save_locale(runtime, world, "carol", "fr")
    set_approval_policy(runtime, world.actor("alice"), policy="manual")
    login(client, carol)
    _key, csr = good_csr("ec-p256")
    post(client, "/certificates/upload", {"csr": csr.decode()})
    admin = app.test_client()
    login(admin, world.emails["alice"])
    request_id = int(re.search(r"<td>(\d+)</td>", admin.get("/admin/requests").get_data(as_text=True)).group(1))
    assert post(admin, f"/admin/requests/{request_id}/reject", {"comment": "pas maintenant"}).status_code == 302
    text = _text(mailbox.wait_for(carol)[-1])
    assert f"Demande de certificat n° {request_id}" in text and "a été refusée" in text and "pas maintenant" in text
    assert "was rejected" not in text

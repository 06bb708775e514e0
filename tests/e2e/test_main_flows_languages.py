"""Issue 15 acceptance 1 and item 6 in a real browser (Playwright driving Debian's Chromium), in French and
in English: the main flows, with the language switched once on the way, and the menu on one line at 1280 px.

1. The main flow, once with a French browser and once with an English one: the first administrator logs in
   and makes every request wait for approval; a member asks for a certificate file (.p12 made by the portal,
   the way that works under the manual policy), switches the language of the portal on her requests page
   (her choice is saved: every page after it is in the other language), the administrator approves the
   request, the member collects her .p12 (openssl opens it with her password and the chain verifies), and
   the administrator revokes it with a reason. Each page is checked for its language (<html lang>, its
   words), its statuses and its flash messages; the ledger for the rows (request issued, certificate revoked
   with that reason, the audit events). The request form and the page after a download are being
   translated elsewhere: on those two the test reads only <html lang> and what is already in the catalogs.
2. The menu of an operator and of a company administrator (the longest), in French (the longer labels) and
   in English, at 1280 px: every item of the header on one line, nothing past the right edge.

Screenshots (1280x800 viewport, full page) go to var/test-artifacts/e2e/<test>/ (git-ignored).
"""

from __future__ import annotations

import re

import pytest
from cryptography import x509

from ca.ledger import audit, portal_store, store
from ca.x509.serials import format_serial
from tests.conftest import EIC
from tests.e2e.test_portal_browser import Live, _check_p12, live  # noqa: F401
from tests.portal.conftest import pg_runtime, runtime, world, world_template  # noqa: F401
from tests.portal.support import PASSWORD

VIEWPORT = {"width": 1280, "height": 800}
BROWSER_LOCALES = {"en": "en-US", "fr": "fr-FR"}
OTHER = {"en": "fr", "fr": "en"}
FILE_PASSWORD = "a file password for carol"

# What a person reads, in each language: written out here (not looked up in the catalogs), so an
# untranslated or mistranslated string fails the test.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "switch_to": "English", "email": "E-mail address", "password": "Password", "log_in": "Log in",
        "log_out": "Log out", "hello": "Hello Alice Martin", "policy": "Approval policy",
        "manual": "An administrator approves each request", "save": "Save",
        "policy_saved": "Each request now waits for an administrator's approval.",
        "get": "Get a certificate",
        "waiting": "Request #{id} is waiting for an administrator. You will get an e-mail; then collect your "
                   "certificate on this page.",
        "my_requests": "My requests", "my_requests_h1": "My certificate requests", "pending": "pending",
        "request_mail": "Certificate request #{id}",
        "approvals": "Approvals", "approvals_h1": "Certificate requests", "approve": "Approve",
        "approved_flash": "Request #{id} approved: its requester is told by e-mail to collect the certificate.",
        "approved": "approved",
        "collect": "Approved: collect your certificate file (once)", "file_password": "Password of the file",
        "again": "The same password again", "create": "Create and download", "issued": "issued",
        "company_certificates": "Company certificates", "company_h1": "Certificates of Demo Producer",
        "revoke": "Revoke…", "revoke_h1": "Revoke a certificate", "why": "Why?",
        "reason": "The holder left the company", "revoke_button": "Delete the certificate",
        "revoked_flash": "Certificate {serial} is revoked: it no longer opens any door.", "revoked": "revoked",
        "reason_words": "its holder left the company", "my_certificates": "My certificates",
        "certificate_h1": "Certificate", "status": "Status",
    },
    "fr": {
        "switch_to": "Français", "email": "Adresse e-mail", "password": "Mot de passe", "log_in": "Se connecter",
        "log_out": "Se déconnecter", "hello": "Bonjour Alice Martin", "policy": "Politique d'approbation",
        "manual": "Un administrateur approuve chaque demande", "save": "Enregistrer",
        "policy_saved": "Chaque demande attend désormais l'approbation d'un administrateur.",
        "get": "Obtenir un certificat",
        "waiting": "La demande n° {id} attend un administrateur. Vous recevrez un e-mail ; récupérez ensuite "
                   "votre certificat sur cette page.",
        "my_requests": "Mes demandes", "my_requests_h1": "Mes demandes de certificat", "pending": "en attente",
        "request_mail": "Demande de certificat n° {id}",
        "approvals": "Approbations", "approvals_h1": "Demandes de certificat", "approve": "Approuver",
        "approved_flash": "Demande n° {id} approuvée : son auteur est prévenu par e-mail pour récupérer le certificat.",
        "approved": "approuvée",
        "collect": "Approuvée : récupérez votre fichier de certificat (une seule fois)",
        "file_password": "Mot de passe du fichier", "again": "Le même mot de passe, à nouveau",
        "create": "Créer et télécharger", "issued": "émis",
        "company_certificates": "Certificats de l'entreprise", "company_h1": "Certificats de Demo Producer",
        "revoke": "Révoquer…", "revoke_h1": "Révoquer un certificat", "why": "Pourquoi ?",
        "reason": "Le titulaire a quitté l'entreprise", "revoke_button": "Supprimer le certificat",
        "revoked_flash": "Le certificat {serial} est révoqué : il n'ouvre plus aucune porte.",
        "revoked": "révoqué", "reason_words": "son titulaire a quitté l'entreprise",
        "my_certificates": "Mes certificats", "certificate_h1": "Certificat", "status": "Statut",
    },
}


def _browser_page(server: Live, lang: str):
    """A new browser (its own cookies) whose language is `lang`: Chromium sends it as Accept-Language."""
    context = server.browser.new_context(  # type: ignore[attr-defined]
        base_url=server.url, locale=BROWSER_LOCALES[lang], viewport=VIEWPORT, accept_downloads=True)
    return context.new_page()


def _in_language(page, lang: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("html")).to_have_attribute("lang", lang)


def _flash(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".flash[role=status]").filter(has_text=text)).to_have_text(text)


def _heading(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def _login(page, email: str, lang: str) -> None:
    words = WORDS[lang]
    page.goto("/login")
    _in_language(page, lang)
    _heading(page, words["log_in"])
    page.get_by_label(words["email"]).fill(email)
    page.get_by_label(words["password"]).fill(PASSWORD)
    page.get_by_role("button", name=words["log_in"]).click()
    page.wait_for_url("**/home")
    _in_language(page, lang)


def _nav(page, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_main_flows_with_a_language_switch_on_the_way(live, world, runtime, session_pki, clock, tmp_path,  # noqa: F811
                                                      lang):
    from playwright.sync_api import expect

    words, other = WORDS[lang], WORDS[OTHER[lang]]

    # -- the first administrator logs in and makes every request wait for an administrator -----------------
    admin = _browser_page(live, lang)
    _login(admin, world.emails["alice"], lang)
    _heading(admin, words["hello"])
    live.shot(admin, f"{lang}-01-admin-home")
    admin.get_by_role("main").get_by_role("link", name=words["policy"]).click()
    admin.get_by_label(words["manual"]).check()
    admin.get_by_role("button", name=words["save"]).click()
    _flash(admin, words["policy_saved"])
    expect(admin.get_by_label(words["manual"])).to_be_checked()
    live.shot(admin, f"{lang}-02-admin-policy-manual")

    # -- a member asks for a certificate file; her request waits ------------------------------------------
    member = _browser_page(live, lang)
    _login(member, world.emails["carol"], lang)
    member.get_by_role("main").get_by_role("link", name=words["get"]).click()
    member.wait_for_url("**/certificates/new")
    _in_language(member, lang)
    live.shot(member, f"{lang}-03-member-new-certificate")
    # The form's own words are still being translated (another branch): its one button, by its place.
    member.locator("#generate button[type=submit]").click()
    member.wait_for_url("**/requests")
    row = member.locator("tr[data-request]")
    expect(row).to_have_count(1)
    request_id = int(row.get_attribute("data-request") or "0")
    _flash(member, words["waiting"].format(id=request_id))
    _heading(member, words["my_requests_h1"])
    expect(row.locator(".status")).to_have_text(words["pending"])
    live.shot(member, f"{lang}-04-member-request-pending")

    # -- she switches the language on the way: the same page comes back in the other one, and stays so -----
    member.get_by_role("button", name=other["switch_to"]).click()
    member.wait_for_url("**/requests")
    _in_language(member, OTHER[lang])
    _heading(member, other["my_requests_h1"])
    expect(member.locator("tr[data-request] .status")).to_have_text(other["pending"])
    live.shot(member, f"{lang}-05-member-switched-to-{OTHER[lang]}")
    with runtime.sessionmaker() as session:
        saved = portal_store.find_user_by_email(session, world.emails["carol"])
        assert saved is not None and saved.locale == OTHER[lang]

    # -- the administrator approves it -------------------------------------------------------------------
    _nav(admin, words["approvals"])
    _heading(admin, words["approvals_h1"])
    pending = admin.locator(f"tr[data-request='{request_id}']")
    expect(pending.locator(".status")).to_have_text(words["pending"])
    live.shot(admin, f"{lang}-06-admin-approvals")
    pending.get_by_role("button", name=words["approve"]).click()
    _flash(admin, words["approved_flash"].format(id=request_id))
    expect(admin.locator(f"tr[data-request='{request_id}']")).to_have_count(0)  # no longer pending
    live.shot(admin, f"{lang}-07-admin-approved")
    with runtime.sessionmaker() as session:
        decided = portal_store.get_company_request(session, saved.company_id, request_id)
        assert decided.status == "approved" and decided.decided_at is not None
    told = live.mailbox.wait_for(world.emails["carol"])  # type: ignore[attr-defined]  ("you will get an e-mail")
    # in the member's saved language, which she switched to on the way
    assert [m["Subject"] for m in told] == [other["request_mail"].format(id=request_id)]
    assert f"{live.url}/requests" in told[0].get_content()  # where to collect it

    # -- the member collects her .p12, in her new language -----------------------------------------------
    _nav(member, other["my_requests"])
    _in_language(member, OTHER[lang])
    approved = member.locator(f"tr[data-request='{request_id}']")
    expect(approved.locator(".status")).to_have_text(other["approved"])
    expect(approved.get_by_text(other["collect"])).to_be_visible()
    approved.get_by_label(other["file_password"]).fill(FILE_PASSWORD)
    approved.get_by_label(other["again"]).fill(FILE_PASSWORD)
    live.shot(member, f"{lang}-08-member-collect")
    with member.expect_download() as download_info:
        approved.get_by_role("button", name=other["create"]).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".p12"), download.suggested_filename
    p12 = tmp_path / "carol.p12"
    download.save_as(p12)
    cert = _check_p12(p12, FILE_PASSWORD, tmp_path, session_pki, int(clock.now().timestamp()))
    serial = format_serial(cert.serial_number)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0].value == EIC
    member.wait_for_url("**/certificates/downloaded**")
    _in_language(member, OTHER[lang])  # this page's words are being translated elsewhere: its language only
    live.shot(member, f"{lang}-09-member-downloaded")
    _nav(member, other["my_certificates"])
    mine = member.locator(f"tr:has(a[href='/certificates/{serial}'])")
    expect(mine.locator(".status")).to_have_text(other["issued"])

    # -- the administrator revokes it, with a reason ------------------------------------------------------
    _nav(admin, words["company_certificates"])
    _heading(admin, words["company_h1"])
    listed = admin.locator(f"tr:has(a[href='/certificates/{serial}'])")
    expect(listed.locator(".status")).to_have_text(words["issued"])
    listed.get_by_role("link", name=words["revoke"]).click()
    admin.wait_for_url(f"**/certificates/{serial}/revoke")
    _heading(admin, words["revoke_h1"])
    expect(admin.locator("legend")).to_have_text(words["why"])
    admin.get_by_label(words["reason"]).check()
    live.shot(admin, f"{lang}-10-admin-revoke")
    admin.get_by_role("button", name=words["revoke_button"]).click()
    admin.wait_for_url("**/admin/certificates")
    _flash(admin, words["revoked_flash"].format(serial=serial))
    revoked = admin.locator(f"tr:has(a[href='/certificates/{serial}'])")
    expect(revoked.locator(".status")).to_have_text(words["revoked"])
    expect(revoked.locator(".hint").filter(has_text=words["reason_words"])).to_have_text(
        f"({words['reason_words']})")
    live.shot(admin, f"{lang}-11-admin-revoked")
    revoked.get_by_role("link", name=re.compile(serial[:16])).click()
    _heading(admin, words["certificate_h1"])
    status_cell = admin.get_by_role("row", name=re.compile(f"^{words['status']}"))
    expect(status_cell).to_contain_text(f"{words['revoked']} ({words['reason_words']}, ")
    live.shot(admin, f"{lang}-12-admin-certificate-revoked")

    # -- the member sees it revoked, in her language, in the same plain words ------------------------------
    _nav(member, other["my_certificates"])
    mine = member.locator(f"tr:has(a[href='/certificates/{serial}'])")
    expect(mine.locator(".status")).to_have_text(other["revoked"])
    expect(mine).to_contain_text(f"({other['reason_words']})")
    live.shot(member, f"{lang}-13-member-certificate-revoked")

    # -- the ledger holds the rows ------------------------------------------------------------------------
    with runtime.sessionmaker() as session:
        row_cert = store.get_certificate(session, serial)
        assert row_cert.status == "revoked" and row_cert.revocation_reason == "affiliationChanged"
        assert row_cert.revoked_at is not None
        request_row = portal_store.get_company_request(session, saved.company_id, request_id)
        assert request_row.status == "issued", request_row.status
        assert portal_store.list_request_certificates(session, [request_id]) == {request_id: serial}
        actions = {(e.action, e.object_id) for e in audit.list_events(session, saved.company_id, limit=50)}
    assert ("request.approved", str(request_id)) in actions, actions
    assert ("certificate.revoked", serial) in actions, actions


def _boxes(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(selector, "els => els.map(e => { const r = e.getBoundingClientRect();"
                                               " return {text: e.textContent.trim(), top: r.top, bottom: r.bottom,"
                                               " left: r.left, right: r.right}; })")


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("who", ["alice", "oscar"])
def test_menu_fits_on_one_line_at_1280_px(live, world, who, lang):  # noqa: F811
    """Issue 15 item 6: the company administrator's menu (the longest) and the operator's, each language.

    The top strip (brand, the person's name, log out, the language switch) is one row; the menu under it is
    one row too: every item at the same height, the menu one item high, nothing past the right edge."""
    from playwright.sync_api import expect

    words = WORDS[lang]
    page = _browser_page(live, lang)
    _login(page, world.emails[who], lang)
    expect(page.get_by_role("button", name=words["log_out"])).to_be_visible()
    menu = page.get_by_role("navigation")
    expected = ("my_certificates", "my_requests", "approvals", "company_certificates") if who == "alice" else ()
    for name in expected:
        expect(menu.get_by_role("link", name=words[name], exact=True)).to_be_visible()
    live.shot(page, f"menu-{who}-{lang}-1280")
    links = _boxes(page, "header nav a")
    assert len(links) == (9 if who == "alice" else 4), links
    assert len({b["top"] for b in links}) == 1, links  # no item wrapped under another
    nav = page.locator("header nav").bounding_box()
    assert nav is not None and nav["height"] < 2 * (links[0]["bottom"] - links[0]["top"]), (nav, links)
    top = _boxes(page, "header > .bar > *")
    assert [b["text"] for b in top][-2:] == [words["log_out"], OTHER[lang].upper()], top
    centres = [(b["top"] + b["bottom"]) / 2 for b in top]
    assert max(centres) - min(centres) < 4, top
    everything = links + top
    assert max(b["right"] for b in everything) <= VIEWPORT["width"], everything
    assert min(b["left"] for b in everything) >= 0, everything

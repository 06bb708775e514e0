"""The portal in a real browser (Playwright driving Debian's Chromium), as its people live it (issue 4).

1. The operator registers a company, a connection point and its first administrator; the first administrator
   activates from the e-mail (a real SMTP server on loopback), adds a user and a group with a service and a
   perimeter; the user activates, gets a certificate by server-side key generation twice (modern and legacy
   encryption); `openssl pkcs12` opens each file with the chosen password and the chain verifies; the user
   requests deletion of one; OCSP and the ledger show it revoked.
2. A CSR upload under the manual approval policy, approved by an administrator, downloaded as PEM.

Screenshots of the main pages go to var/test-artifacts/e2e/ (git-ignored), or $PKI_TEST_ARTIFACTS.
Never runs `playwright install`: it drives /usr/bin/chromium.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from werkzeug.serving import make_server

from ca.ledger import store
from ca.x509.serials import format_serial
from revocation.ocsp import OCSPService
from tests.portal.conftest import pg_runtime, runtime, world, world_template  # noqa: F401
from tests.portal.mailbox import start_mailbox
from tests.portal.support import PASSWORD
from tests.support.server import free_port
from tests.support.tools import require_module, require_tool
from tests.vectors.bad_csrs import good_csr
from webapp.app import create_app

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("PKI_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artifacts"))
NEW_EIC = "17X100A100A0001A"
ACCOUNT_PASSWORD = "sunny fields all year round"
FILE_PASSWORDS = {"modern": "modern file password 1", "legacy": "legacy file password 2"}


@dataclasses.dataclass
class Live:
    url: str
    runtime: object
    mailbox: object
    shots: Path
    browser: object

    def page(self):
        context = self.browser.new_context(accept_downloads=True, base_url=self.url)  # type: ignore[attr-defined]
        return context.new_page()

    def shot(self, page, name: str) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture
def live(request, settings, runtime, world) -> Iterator[Live]:  # noqa: F811
    chromium = require_tool("chromium")
    sync_api = require_module("playwright.sync_api")
    box, controller = start_mailbox()
    port = free_port()
    portal = dataclasses.replace(settings.portal, base_url=f"http://127.0.0.1:{port}", smtp_host=controller.hostname,
                                 smtp_port=controller.port)
    runtime.settings = dataclasses.replace(runtime.settings, portal=portal)
    app = create_app(runtime.settings, runtime=runtime)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shots = ARTIFACTS / "e2e" / request.node.name.replace("[", "-").rstrip("]")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                yield Live(url=f"http://127.0.0.1:{port}", runtime=runtime, mailbox=box, shots=shots, browser=browser)
            finally:
                browser.close()
    finally:
        server.shutdown()
        controller.stop()


def _see(page, text: str) -> None:
    """Wait (up to 10 s) until the text is on the page: a click's navigation may still be under way."""
    from playwright.sync_api import expect

    expect(page.get_by_text(text).first).to_be_visible(timeout=10_000)


def _login(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home")


def _logout(page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")


def _activate(live: Live, page, email: str, password: str, count: int = 1) -> None:
    link = live.mailbox.last_link(email, count)  # type: ignore[attr-defined]
    page.goto(link)
    page.get_by_label("New password").fill(password)
    page.get_by_label("The same password again").fill(password)
    live.shot(page, f"activate-{email.split('@')[0]}")
    page.get_by_role("button", name="Save my password").click()
    page.wait_for_url("**/login")


def _openssl(*args: str, input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("openssl"), *args], input=input_bytes, capture_output=True, timeout=60)


def _check_p12(path: Path, password: str, tmp: Path, session_pki, at: int) -> x509.Certificate:
    """openssl opens the file with the chosen password, and the chain in it verifies to the root."""
    info = _openssl("pkcs12", "-info", "-in", str(path), "-passin", f"pass:{password}", "-noout")
    assert info.returncode == 0, info.stderr.decode()
    wrong = _openssl("pkcs12", "-info", "-in", str(path), "-passin", "pass:not the password", "-noout")
    assert wrong.returncode != 0
    leaf = tmp / f"{path.stem}-leaf.pem"
    chain = tmp / f"{path.stem}-chain.pem"
    for target, option in ((leaf, "-clcerts"), (chain, "-cacerts")):
        out = _openssl("pkcs12", "-in", str(path), "-passin", f"pass:{password}", "-nokeys", option,
                       "-out", str(target))
        assert out.returncode == 0, out.stderr.decode()
    root = tmp / "root.pem"
    root.write_bytes(session_pki.root.public_bytes(Encoding.PEM))
    verify = _openssl("verify", "-attime", str(at), "-CAfile", str(root), "-untrusted", str(chain), str(leaf))
    assert verify.returncode == 0 and b": OK" in verify.stdout, verify.stdout + verify.stderr
    return x509.load_pem_x509_certificate(leaf.read_bytes())


def _ocsp_status(ledger, cert: x509.Certificate, issuer: x509.Certificate):
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    answer = OCSPService(ledger, poll_seconds=0).respond(body=request.public_bytes(Encoding.DER))
    return ocsp.load_der_ocsp_response(answer.der)


def test_company_onboarding_to_p12_to_deletion(live, world, runtime, session_pki, tmp_path, clock):  # noqa: F811
    page = live.page()
    # -- the operator registers the company, a connection point and its first administrator --------------
    _login(page, world.emails["oscar"], PASSWORD)
    page.get_by_role("link", name="Companies").first.click()
    page.get_by_label("Name").fill("Ferme Solaire du Sud")
    page.get_by_label("EIC code").fill(NEW_EIC)
    live.shot(page, "operator-companies")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(f"**/operator/companies/{NEW_EIC}")
    page.get_by_label("Code").fill("PDL-SOL-001")
    page.get_by_label("Label").fill("Poste de livraison Nord")
    page.get_by_role("button", name="Add the connection point").click()
    page.get_by_label("E-mail address").fill("fanny@solaire.example")
    page.get_by_label("Full name").fill("Fanny Soleil")
    page.get_by_role("button", name="Send the activation link").click()
    _see(page, "received an activation link")
    live.shot(page, "operator-company")
    _logout(page)

    # -- the first administrator activates, adds a user and a group --------------------------------------
    _activate(live, page, "fanny@solaire.example", ACCOUNT_PASSWORD)
    _login(page, "fanny@solaire.example", ACCOUNT_PASSWORD)
    live.shot(page, "home-first-admin")
    page.get_by_role("link", name="Users").first.click()
    page.get_by_label("E-mail address").fill("ugo@solaire.example")
    page.get_by_label("Full name").fill("Ugo Rayon")
    page.get_by_role("button", name="Add").click()
    _see(page, "received an activation link")
    live.shot(page, "admin-users")
    page.get_by_role("link", name="Groups").first.click()
    page.get_by_label("New group name").fill("Market desk")
    page.get_by_role("button", name="Create the group").click()
    page.get_by_label("Ugo Rayon").check()
    page.get_by_label("Market access").check()
    page.get_by_label("PDL-SOL-001").check()
    live.shot(page, "admin-group")
    page.get_by_role("button", name="Save the group").click()
    _see(page, "Group Market desk saved.")
    page.get_by_role("link", name="Groups").first.click()
    row = page.get_by_role("row", name="Market desk")
    assert "Ugo Rayon" in row.inner_text() and "Market access" in row.inner_text()
    assert "PDL-SOL-001" in row.inner_text()
    _logout(page)

    # -- the user activates and gets two .p12 files (modern, legacy) --------------------------------------
    _activate(live, page, "ugo@solaire.example", ACCOUNT_PASSWORD)
    _login(page, "ugo@solaire.example", ACCOUNT_PASSWORD)
    live.shot(page, "home-user")
    certificates = {}
    for encryption, password in FILE_PASSWORDS.items():
        page.get_by_role("link", name="My certificates").first.click()
        page.get_by_role("link", name="Get a certificate").first.click()
        page.get_by_label("Password of the file").fill(password)
        page.get_by_label("The same password again").fill(password)
        page.locator(f"input[name=encryption][value={encryption}]").check()
        if encryption == "modern":
            live.shot(page, "new-certificate")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Create and download my certificate").click()
        download = download_info.value
        assert download.suggested_filename.startswith("ugo-rayon-") and download.suggested_filename.endswith(".p12")
        target = tmp_path / f"{encryption}.p12"
        download.save_as(target)
        certificates[encryption] = _check_p12(target, password, tmp_path, session_pki,
                                              int(clock.now().timestamp()))
    cert = certificates["legacy"]
    assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0].value == NEW_EIC

    # -- the user requests deletion of one; OCSP and the ledger say revoked --------------------------------
    assert _ocsp_status(runtime, cert, session_pki.issuer).certificate_status == ocsp.OCSPCertStatus.GOOD
    page.get_by_role("link", name="My certificates").first.click()
    live.shot(page, "my-certificates")
    serial = format_serial(cert.serial_number)
    page.locator(f"tr:has(a[href='/certificates/{serial}'])").get_by_role("link", name="Request deletion").click()
    page.get_by_label("I no longer need it").check()
    live.shot(page, "request-deletion")
    page.get_by_role("button", name="Delete the certificate").click()
    _see(page, "is revoked")
    with runtime.sessionmaker() as session:
        row = store.get_certificate(session, serial)
        assert row.status == "revoked" and row.revocation_reason == "cessationOfOperation"
    answer = _ocsp_status(runtime, cert, session_pki.issuer)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.cessation_of_operation
    assert _ocsp_status(runtime, certificates["modern"], session_pki.issuer).certificate_status == \
        ocsp.OCSPCertStatus.GOOD


def test_csr_upload_with_administrator_approval(live, world, runtime, session_pki):  # noqa: F811
    admin = live.page()
    _login(admin, world.emails["alice"], PASSWORD)
    admin.get_by_role("link", name="Approval policy").click()
    admin.get_by_label("An administrator approves each request").check()
    admin.get_by_role("button", name="Save").click()
    _see(admin, "waits for an administrator")

    user = live.page()
    _login(user, world.emails["carol"], PASSWORD)
    key, csr = good_csr("ec-p256")
    user.get_by_role("link", name="Get a certificate").first.click()
    live.shot(user, "new-certificate-manual")
    user.get_by_label("Paste the CSR (PEM)").fill(csr.decode())
    user.get_by_role("button", name="Send the CSR").click()
    user.wait_for_url("**/requests")
    _see(user, "waiting for an administrator")
    live.shot(user, "my-requests-pending")

    admin.get_by_role("link", name="Approvals").click()
    live.shot(admin, "admin-approvals")
    row = admin.get_by_role("row", name="Carol Petit")
    row.get_by_role("button", name="Approve").click()
    _see(admin, "approved: its certificate is issued")
    admin.get_by_role("link", name="Audit trail").click()
    live.shot(admin, "admin-audit")
    _see(admin, "request.approved")

    user.get_by_role("link", name="My requests").click()
    user.get_by_role("link", name="See the certificate").click()
    live.shot(user, "certificate-detail")
    with user.expect_download() as download_info:
        user.get_by_role("link", name="PEM (.crt)").click()
    pem = Path(download_info.value.path()).read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    cert.verify_directly_issued_by(session_pki.issuer)

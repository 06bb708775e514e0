"""Keys made in the browser and the page after a download (issue 11 items 3 and 4), in Debian's Chromium.

A real portal on loopback (werkzeug, threaded) and a real front office (`pkictl serve frontoffice`, direct
HTTPS). Bob opens "Get a certificate": the page's bundle (served by the portal, under its CSP) makes the key
with WebCrypto, sends only a PKCS#10 request, receives the certificate and builds the .p12 in the page.
For both encryptions (modern with P-256, legacy with RSA-2048): `openssl pkcs12 -info` opens the file with the
chosen password only, its key matches the certificate, and Chromium presenting it gets into the front office.
What reached the server is asserted twice: Playwright's request events (the browser's side) and a WSGI
recorder in front of the portal (the server's side) — one POST, holding {"csr": PEM} and nothing like the key.
After each kind of download (two in-browser, one server-made) the install-steps page appears.
Screenshots go to var/test-artifacts/e2e/browser-keys/ (git-ignored), or $PKI_TEST_ARTIFACTS.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat, pkcs12
from sqlalchemy import select
from werkzeug.serving import make_server

from ca.actor import Actor
from ca.ledger.models import Company, User
from ca.runtime import build_runtime
from ca.settings import load_settings
from enrollment.requests.approval import decide_request, list_my_requests, set_approval_policy
from tests.frontoffice.servers import frontoffice_environ, start_frontoffice
from tests.frontoffice.world import EIC, OPERATOR, build_world
from tests.portal.support import PASSWORD, set_password
from tests.support.server import free_port, stop_server
from tests.support.tools import require, require_module, require_tool
from webapp.app import create_app

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("PKI_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artifacts"))
BOB = "bob@example.com"
FILES = {  # encryption: (key type, file password); a non-ASCII password checks the BMPString conversion
    "modern": ("ec-p256", "modern file password ä 1"),
    "legacy": ("rsa-2048", "legacy file password 2"),
}


class Recorder:
    """WSGI middleware keeping every request body the portal receives (the server's side of the wire)."""

    def __init__(self, app: Any) -> None:
        self.app, self.bodies = app, []  # type: list[tuple[str, str, bytes]]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        self.bodies.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), body))
        return self.app(environ, start_response)


@dataclasses.dataclass
class Setup:
    portal: str
    frontoffice: str
    runtime: Any
    recorder: Recorder
    browser: Any
    shots: Path


@pytest.fixture
def setup(tmp_path: Path, session_pki) -> Iterator[Setup]:
    chromium = require_tool("chromium")
    sync_api = require_module("playwright.sync_api")
    require_tool("openssl")
    port = free_port()
    environ = frontoffice_environ(tmp_path, session_pki, portal_url=f"http://127.0.0.1:{port}")
    environ["PKI_PORTAL__BASE_URL"] = f"http://127.0.0.1:{port}"
    runtime = build_runtime(load_settings(None, environ))
    frontoffice = server = None
    try:
        build_world(runtime, session_pki, tmp_path / "certs")
        set_password(runtime, BOB)
        app = create_app(runtime.settings, runtime=runtime)
        recorder = Recorder(app.wsgi_app)
        app.wsgi_app = recorder  # type: ignore[method-assign]
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        frontoffice = start_frontoffice(environ, tmp_path / "logs")
        shots = ARTIFACTS / "e2e" / "browser-keys"
        shots.mkdir(parents=True, exist_ok=True)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                yield Setup(portal=f"http://127.0.0.1:{port}", frontoffice=f"https://127.0.0.1:{frontoffice.port}",
                            runtime=runtime, recorder=recorder, browser=browser, shots=shots)
            finally:
                browser.close()
    finally:
        if server is not None:
            server.shutdown()
        if frontoffice is not None:
            stop_server(frontoffice)
        runtime.close()


def _openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("openssl"), *args], capture_output=True, timeout=60)


def _login(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("E-mail address").fill(BOB)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home")


def _watch(page: Any) -> tuple[list[str], list[Any]]:
    """Console errors (a CSP violation is one) and page errors; and every request the browser sends. The
    browser's own favicon probe (the portal has none: a 404) is the only console line left out."""
    problems: list[str] = []
    sent: list[Any] = []
    page.on("console", lambda message: problems.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: sent.append(request))
    return problems, sent


def _check_p12(path: Path, password: str, tmp: Path) -> tuple[x509.Certificate, Any]:
    """openssl opens it with the chosen password only, and the key in it is the certificate's."""
    info = _openssl("pkcs12", "-info", "-in", str(path), "-passin", f"pass:{password}", "-noout")
    assert info.returncode == 0, info.stderr.decode()
    assert _openssl("pkcs12", "-info", "-in", str(path), "-passin", "pass:not the password", "-noout").returncode != 0
    key_pem, cert_pem = tmp / f"{path.stem}.key", tmp / f"{path.stem}.crt"
    for option, target in (("-nocerts", key_pem), ("-clcerts", cert_pem)):
        out = _openssl("pkcs12", "-in", str(path), "-passin", f"pass:{password}", option, "-nodes", "-out", str(target))
        assert out.returncode == 0, out.stderr.decode()
    key_pub = _openssl("pkey", "-in", str(key_pem), "-pubout")
    cert_pub = _openssl("x509", "-in", str(cert_pem), "-noout", "-pubkey")
    assert key_pub.returncode == 0 and key_pub.stdout == cert_pub.stdout, key_pub.stderr.decode()
    key, certificate, chain = pkcs12.load_key_and_certificates(path.read_bytes(), password.encode())
    assert certificate is not None and key is not None and len(chain) == 2
    return certificate, key


def _assert_only_a_csr(setup: Setup, sent: list[Any], key: Any, certificate: x509.Certificate) -> None:
    """One POST per download, to the request API, holding only {"csr": PEM} of the certificate's public key; no
    body the browser sent or the server received holds the private key in any spelling."""
    browser_posts = [r for r in sent if r.method == "POST"]
    server_posts = [(path, body) for method, path, body in setup.recorder.bodies if method == "POST"]
    assert [r.url for r in browser_posts] == [f"{setup.portal}/api/v1/requests"]
    assert [path for path, _ in server_posts] == ["/api/v1/requests"]
    assert browser_posts[0].post_data_buffer == server_posts[0][1]
    data = json.loads(server_posts[0][1])
    assert list(data) == ["csr"]
    csr = x509.load_pem_x509_csr(data["csr"].encode())
    assert csr.is_signature_valid
    assert csr.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == \
        certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    pkcs8 = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    secret = key.private_numbers().private_value if hasattr(key.private_numbers(), "private_value") \
        else key.private_numbers().d
    secret_bytes = secret.to_bytes((secret.bit_length() + 7) // 8, "big")
    spellings = [pkcs8, base64.b64encode(pkcs8), pkcs8.hex().encode(), secret_bytes, secret_bytes.hex().encode(),
                 base64.b64encode(secret_bytes), base64.urlsafe_b64encode(secret_bytes).rstrip(b"="), b"PRIVATE KEY"]
    for _method, _path, body in setup.recorder.bodies:
        assert not any(spelling in body for spelling in spellings)


def _gets_into_frontoffice(setup: Setup, p12: Path, password: str) -> None:
    context = setup.browser.new_context(ignore_https_errors=True, client_certificates=[
        {"origin": setup.frontoffice, "pfxPath": str(p12), "passphrase": password}])
    try:
        page = context.new_page()
        response = page.goto(setup.frontoffice + "/", timeout=20_000)
        assert response is not None and response.status == 200
        assert page.locator("dd.name").inner_text() == "Bob Trader"
        setup.shots.joinpath(f"frontoffice-{p12.stem}.png").write_bytes(page.screenshot(full_page=True))
    finally:
        context.close()


def _see_text(page: Any, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text(text)).to_be_visible(timeout=10_000)


def _install_page(setup: Setup, page: Any, name: str, kind_text: str) -> None:
    """The page after a download: the system chosen from the browser (Chromium on Linux here), switchable,
    and the link to the front office."""
    from playwright.sync_api import expect

    page.wait_for_url("**/certificates/downloaded?**")
    expect(page.get_by_text(kind_text)).to_be_visible()
    expect(page.get_by_role("heading", name="Chrome or Chromium on Linux")).to_be_visible()
    expect(page.get_by_role("heading", name="Windows (Edge, Chrome)")).to_be_hidden()
    assert page.get_by_role("link", name="Test my certificate").get_attribute("href") == \
        setup.runtime.settings.frontoffice.address
    page.screenshot(path=str(setup.shots / f"{name}.png"), full_page=True)
    page.get_by_role("button", name="macOS").click()
    expect(page.get_by_role("heading", name="macOS (Safari, Chrome) — Keychain")).to_be_visible()
    expect(page.get_by_role("heading", name="Chrome or Chromium on Linux")).to_be_hidden()
    page.screenshot(path=str(setup.shots / f"{name}-macos.png"), full_page=True)


def test_key_made_in_the_browser_to_the_front_office(setup: Setup, tmp_path: Path) -> None:
    context = setup.browser.new_context(accept_downloads=True, base_url=setup.portal)
    page = context.new_page()
    problems, sent = _watch(page)
    _login(page)
    # A bad password is refused in the page, before any key is made or anything sent.
    page.goto("/certificates/new")
    page.get_by_label("File password", exact=True).fill("one file password")
    page.get_by_label("Repeat the file password").fill("another file password")
    sent.clear()
    page.get_by_role("button", name="Make my key here and download").click()
    _see_text(page, "Nothing was downloaded: the two passwords differ")
    assert [r for r in sent if r.method == "POST"] == []
    for encryption, (key_type, password) in FILES.items():
        page.goto("/certificates/new")
        csp = page.evaluate("() => fetch(location.href).then(r => r.headers.get('content-security-policy'))")
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "default-src 'self'" in csp
        page.get_by_label("File password", exact=True).fill(password)
        page.get_by_label("Repeat the file password").fill(password)
        page.locator(f"input[name=file_encryption][value={encryption}]").check()
        page.locator("#browser summary").click()
        page.get_by_label("browser key type").select_option(key_type)
        setup.shots.joinpath(f"new-{encryption}.png").write_bytes(page.screenshot(full_page=True))
        setup.recorder.bodies.clear()
        sent.clear()
        with page.expect_download(timeout=30_000) as download_info:
            page.get_by_role("button", name="Make my key here and download").click()
        download = download_info.value
        assert download.suggested_filename.startswith("bob-trader-") and download.suggested_filename.endswith(".p12")
        p12 = tmp_path / f"browser-{encryption}.p12"
        download.save_as(p12)
        _install_page(setup, page, f"downloaded-browser-{encryption}", "Your key was made in this browser")
        certificate, key = _check_p12(p12, password, tmp_path)
        _assert_only_a_csr(setup, sent, key, certificate)
        assert certificate.public_key().key_size == (256 if key_type == "ec-p256" else 2048)
        _gets_into_frontoffice(setup, p12, password)

    # The server-made .p12 ends on the same page.
    page.goto("/certificates/new")
    page.get_by_label("Password of the file").fill(FILES["modern"][1])
    page.get_by_label("The same password again").fill(FILES["modern"][1])
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Create and download my certificate").click()
    p12 = tmp_path / "server-modern.p12"
    download_info.value.save_as(p12)
    _install_page(setup, page, "downloaded-server", "Your .p12 file was made for you")
    _check_p12(p12, FILES["modern"][1], tmp_path)

    # The CSR way ends there too, offering the certificate that goes with the key the person holds.
    own_key = ec.generate_private_key(ec.SECP256R1())
    own_csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(own_key, hashes.SHA256())
    page.goto("/certificates/new")
    page.get_by_label("Paste the CSR (PEM)").fill(own_csr.public_bytes(serialization.Encoding.PEM).decode())
    page.get_by_role("button", name="Send the CSR").click()
    _install_page(setup, page, "downloaded-csr", "Your certificate goes with the key you already hold")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Certificate (PEM, .crt)").click()
    crt = tmp_path / "csr-way.crt"
    download_info.value.save_as(crt)
    issued = x509.load_pem_x509_certificate(crt.read_bytes())
    assert issued.public_key().public_numbers() == own_key.public_key().public_numbers()
    assert problems == []


def test_not_offered_where_an_administrator_approves(setup: Setup, tmp_path: Path) -> None:
    """A key made in the page cannot wait for an approval (it lives only in the page): under the manual
    policy the way is explained, not offered. The server-made file collected after approval ends on the
    install-steps page too."""
    from playwright.sync_api import expect

    set_approval_policy(setup.runtime, OPERATOR, policy="manual", company_eic=EIC)
    page = setup.browser.new_context(accept_downloads=True, base_url=setup.portal).new_page()
    problems, _sent = _watch(page)
    _login(page)
    page.goto("/certificates/new")
    expect(page.get_by_text("cannot wait for an administrator's approval")).to_be_visible()
    assert page.locator("form[data-browser-keys]").count() == 0
    page.screenshot(path=str(setup.shots / "new-manual.png"), full_page=True)
    page.get_by_role("button", name="Ask for a certificate").click()
    page.wait_for_url("**/requests")
    request_id = list_my_requests(setup.runtime, Actor(kind="user", name=BOB, user_id=_bob_id(setup),
                                                       company_id=_company_id(setup), role="user"))[0].id
    decide_request(setup.runtime, OPERATOR, request_id=request_id, approve=True, company_eic=EIC)
    page.goto("/requests")
    page.get_by_label("Password of the file").fill(FILES["legacy"][1])
    page.get_by_label("The same password again").fill(FILES["legacy"][1])
    page.locator("input[name=encryption][value=legacy]").check()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Create and download").click()
    p12 = tmp_path / "collected-legacy.p12"
    download_info.value.save_as(p12)
    _install_page(setup, page, "downloaded-collected", "Your .p12 file was made for you")
    _check_p12(p12, FILES["legacy"][1], tmp_path)
    assert problems == []


def _bob_id(setup: Setup) -> int:
    with setup.runtime.sessionmaker() as session:
        return session.execute(select(User.id).where(User.email == BOB)).scalar_one()


def _company_id(setup: Setup) -> int:
    with setup.runtime.sessionmaker() as session:
        return session.execute(select(Company.id).where(Company.eic == EIC)).scalar_one()


def test_the_bundle_evaluates_no_string() -> None:
    """The CSP has no 'unsafe-eval': the bundle (built by make install) must not need it."""
    bundle = Path(__file__).resolve().parents[2] / "webapp" / "static" / "build" / "browser-keys.js"
    require(bundle.exists(), f"{bundle} is not built (make install runs npm ci and esbuild)")
    text = bundle.read_text()
    assert "new Function" not in text and not re.search(r"[^\w.]eval\(", text)

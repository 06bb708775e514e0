"""Issue 15 item 5: Chromium without a client certificate, or with one that fails TLS verification (expired,
another CA's), gets the front office's 403 explanation page in direct mode with the default settings
(cheroot with pyOpenSSL, webapp/frontoffice/direct_tls.py), and the refusal is audited."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from ca.ledger.models import AuditEvent
from ca.runtime import build_runtime
from ca.settings import load_settings
from tests.frontoffice.servers import frontoffice_environ, start_frontoffice
from tests.frontoffice.world import build_world
from tests.support.server import stop_server
from tests.support.tools import require, require_module

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PORTAL = "https://portal.example.test"


def test_chromium_without_a_certificate_gets_the_explanation_page(tmp_path, session_pki):
    sync_api = require_module("playwright.sync_api")
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    environ = {k: v for k, v in frontoffice_environ(tmp_path, session_pki, portal_url=PORTAL).items()
               if k != "PKI_FRONTOFFICE__MISSING_CERTIFICATE_PAGE"}  # the default
    runtime = build_runtime(load_settings(None, environ))
    server = None
    try:
        build_world(runtime, session_pki, tmp_path / "certs")
        server = start_frontoffice(environ, tmp_path / "logs")
        origin = f"https://127.0.0.1:{server.port}"
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_context(ignore_https_errors=True).new_page()
                response = page.goto(origin + "/services/markets", timeout=20_000)
                assert response is not None and response.status == 403
                assert page.locator(".refused").get_attribute("data-code") == "no_certificate"
                assert "did not present a client certificate" in page.locator("p.message").inner_text()
                assert PORTAL in page.locator("p.action").inner_text()
                assert page.locator("a.portal-link").get_attribute("href") == PORTAL
                page.screenshot(path=str(tmp_path / "frontoffice-no-certificate.png"))
            finally:
                browser.close()
        with runtime.sessionmaker() as session:
            events = session.execute(select(AuditEvent).where(AuditEvent.action == "gate.refused")).scalars().all()
        details = [json.loads(e.details) for e in events]  # stored as canonical JSON text (hash-chained)
        assert any(d.get("reason") == "no_certificate" for d in details), details
    finally:
        if server is not None:
            stop_server(server)
        runtime.close()


def _throwaway_ca(start: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Another certification authority, made here: its certificates are foreign to the front office."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway foreign CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def test_chromium_with_an_expired_or_foreign_certificate_gets_its_refusal_page(tmp_path, session_pki):
    sync_api = require_module("playwright.sync_api")
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    environ = {k: v for k, v in frontoffice_environ(tmp_path, session_pki, portal_url=PORTAL).items()
               if k != "PKI_FRONTOFFICE__MISSING_CERTIFICATE_PAGE"}
    runtime = build_runtime(load_settings(None, environ))
    server = None
    try:
        world = build_world(runtime, session_pki, tmp_path / "certs")
        now = runtime.clock.now()
        expired = world.forge("expired", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
        world.record(expired)
        ca_cert, ca_key = _throwaway_ca(now - timedelta(hours=1))
        foreign = world.forge("foreign", issuer=ca_cert, issuer_key=ca_key)
        server = start_frontoffice(environ, tmp_path / "logs")
        origin = f"https://127.0.0.1:{server.port}"
        cases = ((expired, "expired", "This certificate expired on", "certificate has expired (X509 error 10"),
                 (foreign, "unknown_issuer", "not issued by the Portail PKI", "(X509 error 20 at depth 0)"))
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                for holder, code, words, _tls in cases:
                    context = browser.new_context(ignore_https_errors=True, client_certificates=[
                        {"origin": origin, "certPath": str(holder.cert_file), "keyPath": str(holder.key_file)}])
                    page = context.new_page()
                    response = page.goto(origin + "/", timeout=20_000)
                    assert response is not None and response.status == 403, code
                    assert page.locator(".refused").get_attribute("data-code") == code
                    assert words in page.locator("p.message").inner_text()
                    assert page.locator("a.portal-link").get_attribute("href") == PORTAL
                    page.screenshot(path=str(tmp_path / f"frontoffice-{code}.png"))
                    context.close()
            finally:
                browser.close()
        with runtime.sessionmaker() as session:
            events = session.execute(select(AuditEvent).where(AuditEvent.action == "gate.refused")).scalars().all()
        details = [json.loads(e.details) for e in events]
        for _holder, code, _words, tls in cases:
            assert any(d.get("reason") == code and tls in d.get("tls_error", "") for d in details), (code, details)
    finally:
        if server is not None:
            stop_server(server)
        runtime.close()

"""Issue 15 item 4: `GET /pki/` is an HTML index of the repository, and every CA certificate is also served
as PEM (root.pem, ca/<issuer>.pem) that `openssl x509` reads."""

from __future__ import annotations

import re
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from werkzeug.test import Client

from revocation import crl as crl_uc
from tests.support.tools import require_tool
from webapp.repository.app import RepositoryApp


def _links(html: str) -> list[str]:
    return re.findall(r'<a [^>]*href="([^"]+)"', html)


def test_index_lists_every_file_with_what_it_is_for(runtime, operator, session_pki):
    crl_uc.publish_crls(runtime, operator)
    client = Client(RepositoryApp(runtime))
    response = client.get("/pki/")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    base = runtime.settings.repository.base_url.rstrip("/")
    links = _links(html)
    name = session_pki.issuer_name
    for path in ("/pki/root.crt", "/pki/root.pem", f"/pki/ca/{name}.crt", f"/pki/ca/{name}.pem",
                 f"/pki/crl/{name}.crl", "/pki/ocsp"):
        assert base + path in links, path
    assert "the trust anchor" in html and "issues the subscriber certificates" in html and "RFC 6960" in html
    assert runtime.settings.portal.base_url in links  # the way back to the portal
    for link in links:  # every file the index names is served (the OCSP URL answers OCSP, not a file)
        if link.startswith(base + "/pki/") and not link.endswith("/pki/ocsp"):
            assert client.get(link[len(base):]).status_code == 200, link
    assert client.get("/pki").status_code == 200 and client.get("/pki/index.html").status_code == 200


def test_pem_files_are_the_der_certificates(runtime, session_pki, tmp_path):
    openssl = require_tool("openssl")
    client = Client(RepositoryApp(runtime))
    for der_path, pem_path in (("/pki/root.crt", "/pki/root.pem"),
                               (f"/pki/ca/{session_pki.issuer_name}.crt", f"/pki/ca/{session_pki.issuer_name}.pem")):
        der, pem = client.get(der_path), client.get(pem_path)
        assert pem.status_code == 200 and pem.headers["Content-Type"] == "application/x-pem-file"
        assert x509.load_pem_x509_certificate(pem.data).public_bytes(Encoding.DER) == der.data
        path = tmp_path / pem_path.rsplit("/", 1)[1]
        path.write_bytes(pem.data)
        out = subprocess.run([openssl, "x509", "-in", str(path), "-noout", "-subject"], capture_output=True,
                             text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        assert "subject=" in out.stdout
    assert x509.load_pem_x509_certificate(client.get("/pki/root.pem").data) == session_pki.root


def test_index_speaks_the_browser_language(runtime, operator, session_pki):
    """Issue 15 item 1: the index in French or English by Accept-Language, its table's lines included."""
    crl_uc.publish_crls(runtime, operator)
    client = Client(RepositoryApp(runtime))
    french = client.get("/pki/", headers={"Accept-Language": "fr-FR, en;q=0.5"})
    html = french.get_data(as_text=True)
    assert '<html lang="fr">' in html and "Dépôt public" in html and "ancre de confiance" in html
    assert f"AC émettrice {session_pki.issuer_name} (DER)" in html and "émet les certificats des porteurs" in html
    assert "the trust anchor" not in html and "Public repository" not in html
    assert french.headers["Vary"] == "Accept-Language" and french.headers["Content-Language"] == "fr"
    english = client.get("/pki/index.html", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "the trust anchor" in english and "Dépôt public" not in english
    assert "Vary" not in client.get("/pki/root.pem").headers  # the files are the same in every language

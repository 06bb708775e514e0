"""The page after a download (issue 11 item 4): what it shows comes from its query only within fixed choices."""

from __future__ import annotations

from tests.portal.support import login


def test_after_download_page(client, world, runtime):
    login(client, world.emails["carol"])
    page = client.get("/certificates/downloaded?kind=browser&serial=0A1b2C")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Your key was made in this browser" in text
    assert 'href="/certificates/0A1b2C"' in text
    assert f'href="{runtime.settings.frontoffice.address}"' in text
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert '<script src="/static/build/browser-keys.js" defer>' in text


def test_after_download_page_ignores_what_it_does_not_know(client, world):
    login(client, world.emails["carol"])
    text = client.get('/certificates/downloaded?kind=<b>&serial="><script>').get_data(as_text=True)
    assert "the portal kept no copy of its key" in text
    assert "See the certificate" not in text and "<script>" not in text and "<b>" not in text


def test_after_download_page_needs_a_login(client):
    response = client.get("/certificates/downloaded")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_csr_way_ends_on_the_install_steps_with_its_files(client, world, runtime, tmp_path):
    """After a CSR is sent and its certificate issued, the person lands on the install steps, which offer the
    certificate's files (issue 11 §4: after each download kind)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    login(client, world.emails["carol"])
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    form = client.get("/certificates/new").get_data(as_text=True)
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    sent = client.post("/certificates/upload", data={"csrf_token": token,
                                                     "csr": csr.public_bytes(serialization.Encoding.PEM).decode()})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    assert "/certificates/downloaded?kind=csr&serial=" in sent.headers["Location"]
    page = client.get(sent.headers["Location"])
    text = page.get_data(as_text=True)
    serial = sent.headers["Location"].rsplit("serial=", 1)[1]
    assert page.status_code == 200 and "Your certificate goes with the key you already hold" in text
    assert f'href="/certificates/{serial}/download/pem"' in text and "openssl pkcs12 -export" in text
    pem = client.get(f"/certificates/{serial}/download/pem")
    assert pem.status_code == 200
    issued = x509.load_pem_x509_certificate(pem.get_data())
    assert issued.public_key().public_numbers() == key.public_key().public_numbers()

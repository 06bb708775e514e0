"""A whole order with the bare client and a real http-01 responder (http.server on acme.http01_port):
finalize refuses a CSR that names other identifiers (badCSR, the order stays ready), issues for the right
one, the chain downloads, the account lists its orders; revocation refuses another company's account,
then revokes, then answers alreadyRevoked."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ca.actor import cli_operator
from enrollment.accounts import companies
from enrollment.acme_server.domains import add_company_domain
from enrollment.acme_server.eab import create_eab
from tests.acme.conftest import AcmeWorld
from tests.acme.raw import RawClient
from tests.conftest import OTHER_EIC

NAMES = ("www.example.test", "api.example.test")


@pytest.fixture
def responder(acme_world: AcmeWorld) -> Iterator[dict[str, str]]:
    answers: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            token = self.path.rsplit("/", 1)[-1]
            body = answers.get(token, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", acme_world.http01_port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        server.shutdown()
        server.server_close()


def _csr(*names: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, names[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
           .sign(key, hashes.SHA256()))
    return jose.b64encode(csr.public_bytes(Encoding.DER)).decode()


def _ready_order(client: RawClient, answers: dict[str, str]) -> dict:
    created = client.order(*NAMES)
    assert created.status == 201, created.body
    thumb = jose.b64encode(client.key.thumbprint()).decode()
    for url in created.json()["authorizations"]:
        challenge = next(c for c in client.post(url, None).json()["challenges"] if c["type"] == "http-01")
        answers[challenge["token"]] = f"{challenge['token']}.{thumb}"
        answered = client.post(challenge["url"], {})
        assert answered.json()["status"] == "valid", answered.body
        assert answered.headers["Link"].startswith(f"<{url}>;rel=\"up\"")
        assert client.post(url, None).json()["status"] == "valid"
    order = client.post(created.headers["Location"], None)
    assert order.json()["status"] == "ready" and "Retry-After" not in order.headers
    return dict(order.json(), url=created.headers["Location"])


def test_order_finalize_download_and_revoke(acme_world: AcmeWorld, responder: dict[str, str]) -> None:
    client = RawClient(acme_world)
    client.register()
    order = _ready_order(client, responder)

    wrong = client.post(order["finalize"], {"csr": _csr("www.example.test")})
    assert (wrong.status, wrong.problem_type) == (400, "badCSR")
    assert client.post(order["url"], None).json()["status"] == "ready"
    garbage = client.post(order["finalize"], {"csr": "bm90IGEgY3Ny"})
    assert garbage.problem_type == "badCSR"

    done = client.post(order["finalize"], {"csr": _csr(*reversed(NAMES))})
    assert done.status == 200 and done.json()["status"] == "valid", done.body
    again = client.post(order["finalize"], {"csr": _csr(*NAMES)})
    assert again.problem_type == "orderNotReady"  # one certificate per order
    download = client.post(done.json()["certificate"], None)
    assert download.headers["Content-Type"] == "application/pem-certificate-chain"
    chain = x509.load_pem_x509_certificates(download.body)
    assert len(chain) == 2 and chain[1].subject == chain[0].issuer
    assert sorted(chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                  .get_values_for_type(x509.DNSName)) == sorted(NAMES)
    listed = client.post(client.kid + "/orders", None).json()["orders"]
    assert listed == [order["url"]]

    # An account of another company (same domain allowed there too) may not revoke it.
    operator = cli_operator("pytest")
    companies.create_company(acme_world.runtime, operator, eic=OTHER_EIC, name="Other Grid")
    add_company_domain(acme_world.runtime, operator, company_eic=OTHER_EIC, domain="example.test")
    stranger = RawClient(acme_world)
    eab = create_eab(acme_world.runtime, operator, company_eic=OTHER_EIC)
    payload = {"termsOfServiceAgreed": True, "externalAccountBinding": stranger.eab(eab.kid, eab.hmac_key)}
    registered = stranger.post(stranger.directory["newAccount"], payload, embed=True)
    stranger.kid = registered.headers["Location"]
    certificate = jose.b64encode(chain[0].public_bytes(Encoding.DER)).decode()
    refused = stranger.post(stranger.directory["revokeCert"], {"certificate": certificate, "reason": 4})
    assert (refused.status, refused.problem_type) == (403, "unauthorized")
    assert client.post(client.directory["revokeCert"], {"certificate": certificate, "reason": 7}).problem_type \
        == "badRevocationReason"

    revoked = client.post(client.directory["revokeCert"], {"certificate": certificate, "reason": 4})
    assert revoked.status == 200, revoked.body
    twice = client.post(client.directory["revokeCert"], {"certificate": certificate})
    assert twice.problem_type == "alreadyRevoked"


@pytest.fixture
def plain_tls_server(acme_world: AcmeWorld, tmp_path) -> Iterator[None]:
    """A TLS server on acme.tlsalpn01_port that knows no acme-tls/1 (it shows an ordinary certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "www.example.test")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
                   .not_valid_after(now + timedelta(hours=1)).sign(key, hashes.SHA256()))
    pem = tmp_path / "plain.pem"
    pem.write_bytes(certificate.public_bytes(Encoding.PEM) + key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    context.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", acme_world.tlsalpn01_port))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield None
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_failed_validations_say_why(acme_world: AcmeWorld, responder: dict[str, str], plain_tls_server: None) -> None:
    client = RawClient(acme_world)
    client.register()
    created = client.order("www.example.test", "api.example.test")
    first, second = created.json()["authorizations"]
    http01 = next(c for c in client.post(first, None).json()["challenges"] if c["type"] == "http-01")
    responder[http01["token"]] = f"{http01['token']}.not-the-thumbprint"
    wrong = client.post(http01["url"], {}).json()
    assert wrong["status"] == "invalid" and wrong["error"]["type"].endswith(":incorrectResponse")
    alpn = next(c for c in client.post(second, None).json()["challenges"] if c["type"] == "tls-alpn-01")
    refused = client.post(alpn["url"], {}).json()
    assert refused["status"] == "invalid" and refused["error"]["type"].endswith(":unauthorized"), refused
    assert "acme-tls/1" in refused["error"]["detail"]
    assert client.post(created.headers["Location"], None).json()["status"] == "invalid"

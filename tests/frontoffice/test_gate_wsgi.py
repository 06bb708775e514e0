"""The gate middleware in-process (werkzeug's test client): where the certificate is read from, and how
refusals are rendered. The real TLS servers are in test_servers.py."""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from werkzeug.test import Client

from ca.ledger.database import make_engine, make_sessionmaker
from ca.revoke import revoke_certificate
from tests.frontoffice.world import OPERATOR
from webapp.frontoffice import create_frontoffice
from webapp.frontoffice.gate import pem_to_der, route


class _TLSSocket:
    """What gunicorn puts in environ['gunicorn.socket'] for a TLS connection: only getpeercert is used."""

    def __init__(self, der: bytes | None) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        assert binary_form
        return self.der


def _proxy_client(world) -> Client:
    """The world's ledger, with nginx expected at 10.9.8.7 or 192.0.2.1."""
    settings = world.runtime.settings
    frontoffice = replace(settings.frontoffice, trusted_proxies="10.9.8.7, 192.0.2.1")
    return Client(create_frontoffice(replace(world.runtime, settings=replace(settings, frontoffice=frontoffice)),
                                     mode="proxy"))


def _headers(holder, verify: str | None = "SUCCESS") -> dict[str, str]:
    headers = {"X-SSL-Client-Cert": quote(holder.certificate.public_bytes(Encoding.PEM).decode(), safe=""),
               "Accept": "application/json"}
    if verify is not None:
        headers["X-SSL-Client-Verify"] = verify
    return headers


def test_routes_and_pem_parsing(world):
    assert route("/") == (None, None)
    assert route("/services/markets") == ("markets", None)
    assert route("/services/markets/") == ("markets", None)
    assert route("/services/markets/points/PDL-001") == ("markets", "PDL-001")
    assert route("/favicon.ico") == (None, None)
    bob = world.issue("bob", "bob@example.com")
    pem = bob.certificate.public_bytes(Encoding.PEM).decode()
    assert pem_to_der(quote(pem, safe="")) == bob.der == pem_to_der(pem)
    assert pem_to_der("") == b"" and pem_to_der("garbage") == b""
    assert pem_to_der("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----") == b"\x00"


def test_direct_mode_reads_the_tls_socket_and_ignores_headers(world):
    bob, dave = world.issue("bob", "bob@example.com"), world.issue("dave", "dave@example.com")
    world.set_user("dave@example.com", status="deactivated")
    client = Client(create_frontoffice(world.runtime, mode="direct"))
    ok = client.get("/services/markets", environ_base={"gunicorn.socket": _TLSSocket(bob.der)},
                    headers={"Accept": "application/json"})
    assert ok.status_code == 200 and ok.json["full_name"] == "Bob Trader"
    forged = client.get("/", environ_base={"gunicorn.socket": _TLSSocket(dave.der)}, headers=_headers(bob))
    assert forged.status_code == 403 and forged.json["error"] == "account_inactive"
    none = client.get("/", headers=_headers(bob))  # no TLS socket at all: a header alone is nothing
    assert none.status_code == 403 and none.json["error"] == "no_certificate"


@pytest.mark.parametrize(("remote", "verify", "expected"), [
    ("10.9.8.7", "SUCCESS", 200),
    ("192.0.2.1", "SUCCESS", 200),
    ("10.9.8.6", "SUCCESS", "no_certificate"),  # not a trusted proxy: the header is ignored
    ("10.9.8.7", None, "certificate_not_trusted"),  # the proxy did not say it verified it
    ("10.9.8.7", "FAILED:certificate has expired", "certificate_not_trusted"),
    ("10.9.8.7", "NONE", "certificate_not_trusted"),
])
def test_proxy_mode_trusts_headers_only_from_proxies(world, remote, verify, expected):
    bob = world.issue("bob", "bob@example.com")
    response = _proxy_client(world).get("/", headers=_headers(bob, verify), environ_base={"REMOTE_ADDR": remote})
    if expected == 200:
        assert response.status_code == 200 and response.json["eic"] == "10XDEMO-PRODUCE2"
    else:
        assert response.status_code == 403 and response.json["error"] == expected


def test_refusals_render_html_unless_json_is_asked(world):
    bob = world.issue("bob", "bob@example.com")
    client = Client(create_frontoffice(world.runtime, mode="direct"))
    sock = {"gunicorn.socket": _TLSSocket(bob.der)}
    page = client.get("/services/metering", environ_base=sock, headers={"Accept": "text/html,*/*"})
    assert page.status_code == 403 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "None of your groups in Demo Producer grants access" in text and "Bob Trader" in text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["Cache-Control"] == "no-store"
    as_json = client.get("/services/metering", environ_base=sock,
                         headers={"Accept": "application/json, text/html;q=0.5"})
    assert as_json.mimetype == "application/json" and as_json.json["error"] == "service_not_granted"
    home = client.get("/", environ_base=sock)
    assert home.status_code == 200 and "Market access" in home.get_data(as_text=True)
    assert client.post("/", environ_base=sock).status_code == 405
    assert client.get("/nothing/here", environ_base=sock).status_code == 404


def test_values_are_escaped(world):
    world.set_user("bob@example.com", full_name="<script>alert(1)</script>")
    bob = world.issue("bob", "bob@example.com")
    text = Client(create_frontoffice(world.runtime, mode="direct")).get(
        "/", environ_base={"gunicorn.socket": _TLSSocket(bob.der)}).get_data(as_text=True)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


@pytest.mark.parametrize("outage", ["postgresql-refusing", "sqlite-file-gone"])
@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_gate_fails_closed_with_503_when_the_ledger_is_unavailable(world, tmp_path, outage, accept):
    """A certificate the ledger would let in is refused while the ledger cannot be read: 503, Retry-After,
    a page (or JSON) saying so — never a 500, never an allowed request on an unknown decision."""
    bob = world.issue("bob", "bob@example.com")
    client = Client(create_frontoffice(world.runtime, mode="direct"))
    socket = {"gunicorn.socket": _TLSSocket(bob.der)}
    assert client.get("/", environ_base=socket, headers={"Accept": "application/json"}).status_code == 200
    if outage == "postgresql-refusing":
        engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2")  # nothing listens
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'ledger.sqlite3'}")  # an empty file: no tables
    down = replace(world.runtime, engine=engine, sessionmaker=make_sessionmaker(engine))
    try:
        response = Client(create_frontoffice(down, mode="direct")).get("/services/markets", environ_base=socket,
                                                                       headers={"Accept": accept})
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    if accept == "application/json":
        assert response.json["error"] == "unavailable"
    else:
        assert "Temporarily unavailable" in response.text and "Bob" not in response.text


def test_a_held_page_is_answered_whole_and_a_revocation_still_refuses_it(world):
    """The page a held decision rendered is answered again with the same status, headers and bytes (built
    once), per request: the revocation is refused within the decision cache's second (DESIGN §5)."""
    bob = world.issue("bob", "bob@example.com")
    client = _proxy_client(world)
    headers = {**_headers(bob), "Accept": "text/html"}
    first = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    again = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert first.status_code == again.status_code == 200 and again.data == first.data
    assert again.headers.to_wsgi_list() == first.headers.to_wsgi_list()
    assert again.headers["Cache-Control"] == "no-store" and "default-src 'none'" in again.headers[
        "Content-Security-Policy"] and int(again.headers["Content-Length"]) == len(again.data)
    revoke_certificate(world.runtime, OPERATOR, serial=bob.serial, reason="keyCompromise")
    deadline = time.monotonic() + 1.0
    proxy = {"REMOTE_ADDR": "10.9.8.7"}
    while (answer := client.get("/", headers=_headers(bob), environ_base=proxy)).status_code == 200:
        assert time.monotonic() < deadline, "a held page outlived the revocation"
        time.sleep(0.01)
    assert answer.status_code == 403 and answer.json["error"] == "revoked"

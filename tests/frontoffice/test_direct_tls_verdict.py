"""pyOpenSSL's verdict in direct mode (webapp/frontoffice/direct_tls.py), with a real handshake between our
server context and Python's `ssl` as the client over a socket pair: what the gate reads from the
connection, and that it fails closed when verification failed or left no verdict."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import timedelta

from OpenSSL import SSL
from werkzeug.test import EnvironBuilder, run_wsgi_app

from enrollment.access.tls import prepare_server_tls
from tests.frontoffice.world import Holder
from webapp.frontoffice import create_frontoffice
from webapp.frontoffice.direct_tls import ENVIRON_CONNECTION, TLSVerdict, build_context, client_certificate


def _handshake(world, holder: Holder | None) -> SSL.Connection:
    """Our server context against a client presenting `holder`; the server end, after the handshake."""
    settings = world.runtime.settings.frontoffice
    tls = prepare_server_tls(world.runtime)
    server_sock, client_sock = socket.socketpair()
    server = SSL.Connection(build_context(settings, tls.key_passphrase), server_sock)
    server.set_app_data(TLSVerdict())
    server.set_accept_state()
    client_context = ssl.create_default_context()
    client_context.check_hostname, client_context.verify_mode = False, ssl.CERT_NONE
    if holder is not None:
        client_context.load_cert_chain(str(holder.cert_file), str(holder.key_file))
    client = client_context.wrap_socket(client_sock, server_hostname="frontoffice.localhost",
                                        do_handshake_on_connect=False)
    thread = threading.Thread(target=client.do_handshake, daemon=True)
    thread.start()
    server.do_handshake()
    thread.join(5)
    return server


def _gate_answer(world, connection: SSL.Connection, headers: dict[str, str] | None = None) -> tuple[str, bytes]:
    app = create_frontoffice(world.runtime, mode="direct")
    environ = EnvironBuilder(path="/", headers=headers or {"Accept": "application/json"}).get_environ()
    environ[ENVIRON_CONNECTION] = connection
    body, status, _headers = run_wsgi_app(app, environ)
    return status, b"".join(body)


def test_a_valid_certificate_verifies_and_gets_in(world):
    bob = world.issue("bob", "bob@example.com")
    connection = _handshake(world, bob)
    assert client_certificate({ENVIRON_CONNECTION: connection}) == (bob.der, None)
    status, body = _gate_answer(world, connection)
    assert status.startswith("200") and b'"full_name"' in body


def test_an_expired_certificate_completes_the_handshake_with_its_error(world):
    now = world.runtime.clock.now()
    expired = world.forge("expired", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    world.record(expired)
    der, error = client_certificate({ENVIRON_CONNECTION: _handshake(world, expired)})
    assert der == expired.der and error == "certificate has expired (X509 error 10 at depth 0)"


def test_without_a_verdict_or_with_an_error_a_valid_ledger_row_is_still_refused(world):
    """Fail closed: the ledger has nothing against bob, but the TLS layer left no verdict, or an error."""
    bob = world.issue("bob", "bob@example.com")
    connection = _handshake(world, bob)
    connection.set_app_data(None)
    assert client_certificate({ENVIRON_CONNECTION: connection}) == (bob.der, "no verification result")
    status, body = _gate_answer(world, connection)
    assert status.startswith("403") and b'"certificate_not_trusted"' in body
    verdict = TLSVerdict()
    verdict.record(7, 0)
    connection.set_app_data(verdict)
    status, body = _gate_answer(world, connection)
    assert status.startswith("403") and b"certificate signature failure" in body


def test_no_certificate_is_no_certificate(world):
    world.issue("bob", "bob@example.com")
    connection = _handshake(world, None)
    assert client_certificate({ENVIRON_CONNECTION: connection}) == (b"", None)
    status, body = _gate_answer(world, connection)
    assert status.startswith("403") and b'"no_certificate"' in body


def test_the_french_refusal_page_says_why_in_french(world):
    """Issue 15 item 1: "could not be verified" and OpenSSL's reason, both in the page's language."""
    bob = world.issue("bob", "bob@example.com")
    connection = _handshake(world, bob)
    verdict = TLSVerdict()
    verdict.record(7, 0)
    verdict.record(20, 1)
    connection.set_app_data(verdict)
    french = {"Accept": "text/html", "Accept-Language": "fr"}
    status, body = _gate_answer(world, connection, french)
    page = body.decode()
    assert status.startswith("403") and '<html lang="fr">' in page
    assert "pas pu être vérifié" in page and "la signature du certificat est invalide (erreur X509 7" in page
    assert "autorité inconnue" in page and "could not be verified" not in page and "signature failure" not in page
    connection.set_app_data(None)
    page = _gate_answer(world, connection, french)[1].decode()
    assert "aucun résultat de vérification" in page and "no verification result" not in page

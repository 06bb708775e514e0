"""Regression tests for two OCSP faults, with real keys, real ledgers and real outages.

1. Ledger outage: the responder must keep answering HTTP 200 with a DER OCSPResponse — an answer it holds
   in memory and that is still valid is served as before, anything else is `tryLater` (RFC 6960 §2.3) —
   never an HTTP 500 (the old repository app looked up its cache outside any error handling) and never
   `internalError`.
2. A revocation whose post-commit re-signing fails (the revoking process cannot unlock the keys) must still
   be answered `revoked` to clients that send no nonce (RFC 5019 clients, browsers, Windows) within 1 s:
   the stored pre-signed `good` answer must not outlive the revocation.

The outages are real: for SQLite the ledger file is moved away and its path made a directory SQLite cannot
open; for PostgreSQL the responder reaches the server through a TCP relay on 127.0.0.1 whose port is then
closed and whose connections are cut, as when the database host goes away.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlalchemy import make_url, select
from werkzeug.test import Client

from ca.errors import LedgerUnavailableError
from ca.ledger import store
from ca.ledger.models import OCSPResponseRecord
from ca.revoke import revoke_certificate
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from revocation.ocsp import OCSPService, attach_presigner, refresh_ocsp
from tests.conftest import PG_URL
from tests.interop.test_ocsp_openssl import Answer as OpenSSLAnswer
from tests.revocation.helpers import PKICTL, cert_id, certificate_row, issue, live_repository, ocsp_request, run
from tests.support.server import process_environment
from tests.support.tools import in_ci, require_tool
from webapp.repository.app import RepositoryApp

OCSP_TYPE = "application/ocsp-response"
GOOD, REVOKED = ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.REVOKED
SUCCESSFUL, TRY_LATER = ocsp.OCSPResponseStatus.SUCCESSFUL, ocsp.OCSPResponseStatus.TRY_LATER
HASHES = ("sha1", "sha256")
METHODS = ("POST", "GET")


# --- asking, in process or over HTTP ---------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str | None
    headers: dict[str, str]
    body: bytes

    def ocsp(self) -> ocsp.OCSPResponse:
        """The DER OCSPResponse of an HTTP 200 answer with the OCSP media type, or an assertion error."""
        assert self.status == 200, f"HTTP {self.status}: {self.body[:300]!r}"
        assert self.content_type == OCSP_TYPE, self.content_type
        return ocsp.load_der_ocsp_response(self.body)


Ask = Callable[[str, bytes], Reply]


def _get_path(request_der: bytes) -> str:
    return "/pki/ocsp/" + quote(base64.b64encode(request_der).decode(), safe="")


def wsgi_asker(app: RepositoryApp) -> Ask:
    client = Client(app)

    def ask(method: str, request_der: bytes) -> Reply:
        try:
            if method == "POST":
                response = client.post("/pki/ocsp", data=request_der, content_type="application/ocsp-request")
            else:
                response = client.get(_get_path(request_der))
        except Exception as exc:  # noqa: BLE001  (an exception out of the WSGI app is what a server sends as 500)
            return Reply(500, None, {}, repr(exc).encode())
        return Reply(response.status_code, response.headers.get("Content-Type"), dict(response.headers),
                     response.data)

    return ask


def http_asker(base_url: str) -> Ask:
    def ask(method: str, request_der: bytes) -> Reply:
        if method == "POST":
            request = urllib.request.Request(base_url + "/pki/ocsp", data=request_der,
                                             headers={"Content-Type": "application/ocsp-request"})
        else:
            request = urllib.request.Request(base_url + _get_path(request_der))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.headers.get("Content-Type"), dict(response.headers),
                             response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers.get("Content-Type"), dict(error.headers), error.read())

    return ask


def _checked(answer: ocsp.OCSPResponse, issuer: x509.Certificate, serial_number: int) -> ocsp.OCSPResponse:
    """A successful answer about `serial_number`, signed by a responder our issuer certified."""
    assert answer.response_status == SUCCESSFUL, answer.response_status
    assert answer.serial_number == serial_number
    (responder,) = answer.certificates
    responder.verify_directly_issued_by(issuer)
    responder.public_key().verify(answer.signature, answer.tbs_response_bytes,
                                  ec.ECDSA(answer.signature_hash_algorithm))
    return answer


def stored_statuses(runtime: Runtime, serial: str) -> dict[str, ocsp.OCSPCertStatus]:
    """The pre-signed answers of `serial` in the ledger (table ocsp_responses), by CertID hash."""
    with runtime.sessionmaker() as session:
        rows = session.execute(select(OCSPResponseRecord).where(OCSPResponseRecord.serial == serial)).scalars()
        return {row.hash_name: ocsp.load_der_ocsp_response(row.der).certificate_status for row in rows}


# --- real ledger outages ---------------------------------------------------------------------------------
class TCPRelay:
    """A TCP relay on 127.0.0.1 to PostgreSQL. `cut()` closes its port and every connection through it (the
    database host is gone: new connections are refused); `resume()` listens on the same port again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self.resume()

    def resume(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class LedgerOutage:
    """Makes the ledger of `database_url` unreachable for a responder, for real, and brings it back."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.relay: TCPRelay | None = None
        self.url = database_url  # what the responder is configured with
        if database_url.startswith("sqlite"):
            self.path = Path(make_url(database_url).database or "")
            self.moved = directory / "moved-away"
        else:
            url = make_url(database_url)
            self.relay = TCPRelay(url.host or "127.0.0.1", url.port or 5432)
            self.url = url.set(host="127.0.0.1", port=self.relay.port).render_as_string(hide_password=False)

    def begin(self, responder: Runtime | None = None) -> None:
        if self.relay is not None:
            self.relay.cut()
            return
        # The ledger file (and its WAL) moves away and its path becomes a directory: SQLite cannot open it.
        self.moved.mkdir()
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                part.rename(self.moved / part.name)
        self.path.mkdir()
        # A SQLite connection already open reads the moved file through its descriptor: the outage is what
        # the process meets when it opens the file again, so the responder's pooled connections are closed.
        if responder is not None:
            responder.engine.dispose()

    def end(self) -> None:
        if self.relay is not None:
            self.relay.resume()
            return
        self.path.rmdir()
        for part in self.moved.iterdir():
            part.rename(self.path.parent / part.name)
        self.moved.rmdir()

    def close(self) -> None:
        if self.relay is not None:
            self.relay.cut()


@pytest.fixture
def outage(database_url: str, tmp_path: Path) -> Iterator[LedgerOutage]:
    ledger_outage = LedgerOutage(database_url, tmp_path)
    try:
        yield ledger_outage
    finally:
        ledger_outage.close()


def _ledger_is_down(runtime: Runtime) -> None:
    with pytest.raises(LedgerUnavailableError), runtime.sessionmaker() as session:
        store.last_event_id(session)


# --- 1. the ledger is unreachable ------------------------------------------------------------------------
@dataclass(frozen=True)
class OutageRequests:
    remembered: bytes  # asked before the outage: the responder holds a valid answer in memory
    never_asked: bytes  # another certificate, never asked: nothing in memory
    nonce: bytes  # the remembered certificate with a nonce: always needs a freshly signed answer
    serial_number: int  # of the remembered certificate
    other_serial_number: int  # of the never-asked one


def _prepare(runtime: Runtime, operator, issuer: x509.Certificate) -> OutageRequests:
    number, other = (issue(runtime, operator).certificate.serial_number for _ in range(2))
    return OutageRequests(remembered=ocsp_request(cert_id(issuer, number)),
                          never_asked=ocsp_request(cert_id(issuer, other, "sha256")),
                          nonce=ocsp_request(cert_id(issuer, number), nonce=b"outage-nonce-0001"),
                          serial_number=number, other_serial_number=other)


def _remember(ask: Ask, requests: OutageRequests, issuer: x509.Certificate) -> bytes:
    """Ask the remembered request over both methods until two answers in a row are the same bytes."""
    previous = b""
    for _ in range(5):
        replies = [ask(method, requests.remembered) for method in METHODS]
        for reply in replies:
            assert _checked(reply.ocsp(), issuer, requests.serial_number).certificate_status == GOOD
        if replies[0].body == replies[1].body == previous:
            return previous
        previous = replies[0].body
        time.sleep(0.3)  # past the responder's change-feed interval (0.25 s by default)
    raise AssertionError("the responder never served the same answer twice in a row")


def _outcome(reply: Reply) -> str:
    """One line per reply: `200 SUCCESSFUL GOOD`, `200 TRY_LATER`, `500` ..."""
    if reply.status != 200 or reply.content_type != OCSP_TYPE:
        return f"{reply.status} {reply.content_type}"
    answer = ocsp.load_der_ocsp_response(reply.body)
    if answer.response_status != SUCCESSFUL:
        return f"200 {answer.response_status.name}"
    return f"200 SUCCESSFUL {answer.certificate_status.name}"


def _check_answers_during_outage(ask: Ask, requests: OutageRequests, issuer: x509.Certificate,
                                 remembered_der: bytes) -> None:
    """Held in memory and still valid: served as before, byte for byte. Nothing in memory (another
    certificate, or a nonce): tryLater, unsigned and never cached by HTTP caches. Never an HTTP 500."""
    replies = {(method, name): ask(method, getattr(requests, name))
               for method in METHODS for name in ("remembered", "never_asked", "nonce")}
    outcomes = {f"{method} {name}": _outcome(reply) for (method, name), reply in replies.items()}
    expected = {f"{method} {name}": "200 SUCCESSFUL GOOD" if name == "remembered" else "200 TRY_LATER"
                for method, name in replies}
    assert outcomes == expected
    for (method, name), reply in replies.items():
        if name == "remembered":
            assert reply.body == remembered_der
            _checked(reply.ocsp(), issuer, requests.serial_number)
        elif method == "GET":
            assert "ETag" not in reply.headers and "max-age" not in reply.headers.get("Cache-Control", "")


def test_ledger_outage_answers_remembered_or_try_later_in_process(runtime, environ, operator, clock, outage,
                                                                   session_pki):
    """The repository WSGI app on its own runtime; the responder looks at its change feed on every request
    (poll_seconds=0), so each request of the outage meets the unreachable ledger."""
    requests = _prepare(runtime, operator, session_pki.issuer)
    responder = build_runtime(load_settings(None, {**environ, "PKI_DATABASE__URL": outage.url}), clock)
    try:
        ask = wsgi_asker(RepositoryApp(responder, ocsp=OCSPService(responder, poll_seconds=0)))
        remembered_der = _remember(ask, requests, session_pki.issuer)
        outage.begin(responder)
        _ledger_is_down(responder)
        _check_answers_during_outage(ask, requests, session_pki.issuer, remembered_der)
        # The ledger comes back: the answers that were tryLater are answered again.
        outage.end()
        for method in METHODS:
            answer = _checked(ask(method, requests.never_asked).ocsp(), session_pki.issuer,
                              requests.other_serial_number)
            assert answer.certificate_status == GOOD
    finally:
        responder.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_URL is None and not in_ci(), reason="needs PKI_TEST_DATABASE_URL (under CI it is always set)")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.usefixtures("runtime")
def test_ledger_outage_over_http_never_500(environ, operator, outage, session_pki, tmp_path):
    """`pkictl serve repository` (granian) reaching PostgreSQL through the relay; the relay's port closes.
    PostgreSQL only: a server process keeps reading a SQLite file it has open even once the file is gone, so
    only the in-process test can make SQLite unreachable for the responder."""
    with live_repository({**environ, "PKI_DATABASE__URL": outage.url}, session_pki, tmp_path) as repo:
        requests = _prepare(repo.runtime, operator, session_pki.issuer)
        ask = http_asker(repo.server.base_url)
        time.sleep(0.3)  # let the responder's change feed pass the two issuances
        remembered_der = _remember(ask, requests, session_pki.issuer)
        outage.begin()
        _ledger_is_down(repo.runtime)
        time.sleep(0.3)  # the responder looks at its change feed (every 0.25 s): it meets the outage
        _check_answers_during_outage(ask, requests, session_pki.issuer, remembered_der)
        assert repo.server.process.poll() is None, repo.server.log_tail()


# --- 2. a revocation whose post-commit re-signing fails --------------------------------------------------
UNLOCK_FAILURES = {
    "passphrase-missing": lambda directory: directory / "no-such-dir" / "passphrase",
    "passphrase-wrong": lambda directory: _write(directory / "wrong-passphrase", b"not-the-ca-passphrase-987654"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("unlock", sorted(UNLOCK_FAILURES))
def test_revoked_without_nonce_within_a_second_when_resigning_fails(runtime, environ, operator, clock, session_pki,
                                                                     tmp_path, caplog, unlock):
    """Stored and remembered `good` answers exist; another runtime revokes but cannot unlock the keys, so its
    pre-signer fails after the commit. Requests without a nonce must turn `revoked` within 1 s anyway."""
    issuer = session_pki.issuer
    issued = issue(runtime, operator)
    number = issued.certificate.serial_number
    refresh_ocsp(runtime, operator)  # pre-signed `good` answers in the ledger, as `pkictl ocsp refresh` leaves them
    assert stored_statuses(runtime, issued.serial) == {"sha1": GOOD, "sha256": GOOD}
    requests = {hash_name: ocsp_request(cert_id(issuer, number, hash_name)) for hash_name in HASHES}
    ask = wsgi_asker(RepositoryApp(runtime))  # the default change-feed interval: part of the 1 s budget
    for _ in range(2):  # the second round comes from the responder's memory
        for method in METHODS:
            for hash_name in HASHES:
                assert _checked(ask(method, requests[hash_name]).ocsp(), issuer, number).certificate_status == GOOD

    # Another process revokes (an operator's pkictl): it cannot unlock the keys, so its pre-signer fails.
    passphrase_file = UNLOCK_FAILURES[unlock](tmp_path)
    revoker = attach_presigner(build_runtime(load_settings(None, {**environ,
                                                                  "PKI_CA__PASSPHRASE_FILE": str(passphrase_file)}),
                                             clock))
    try:
        with caplog.at_level(logging.ERROR):
            view = revoke_certificate(revoker, operator, serial=issued.serial, reason="keyCompromise")
    finally:
        revoker.close()
    returned = time.monotonic()
    row = certificate_row(runtime, issued.serial)
    assert view.status == row.status == "revoked" and row.revocation_reason == "keyCompromise"

    pending = {(method, hash_name) for method in METHODS for hash_name in HASHES}
    answers: dict[tuple[str, str], ocsp.OCSPResponse] = {}
    while pending and time.monotonic() - returned < 1.0:
        for method, hash_name in sorted(pending):
            answer = _checked(ask(method, requests[hash_name]).ocsp(), issuer, number)
            if answer.certificate_status == REVOKED:
                answers[method, hash_name] = answer
                pending.discard((method, hash_name))
        time.sleep(0.02)
    assert not pending, f"still `good` without a nonce 1 s after the revocation over {sorted(pending)}"
    for answer in answers.values():
        assert answer.revocation_time_utc == row.revoked_at
        assert answer.revocation_reason == x509.ReasonFlags.key_compromise
    assert GOOD not in stored_statuses(runtime, issued.serial).values(), stored_statuses(runtime, issued.serial)
    # The re-signing really failed (and was logged, not raised).
    assert any("re-signing failed" in record.getMessage() for record in caplog.records), caplog.text


@pytest.mark.interop
def test_openssl_no_nonce_sees_revocation_whose_resigning_failed(runtime, environ, operator, session_pki, tmp_path):
    """As reproduced from outside: `openssl ocsp -no_nonce` against `pkictl serve repository`, and a
    `pkictl cert revoke` run with a passphrase file it cannot read (here: absent)."""
    openssl = require_tool("openssl")
    with live_repository(environ, session_pki, tmp_path) as repo:
        serial, leaf = repo.issue_leaf()
        refresh_ocsp(repo.runtime, operator)
        assert stored_statuses(repo.runtime, serial) == {"sha1": GOOD, "sha256": GOOD}

        def ask(hash_name: str) -> OpenSSLAnswer:
            return OpenSSLAnswer(run(openssl, "ocsp", f"-{hash_name}", "-issuer", repo.issuer_pem, "-cert", leaf,
                                     "-url", repo.ocsp_url, "-CAfile", repo.root_pem, "-no_nonce", "-timeout", "10",
                                     timeout=20), leaf)

        for _ in range(2):
            for hash_name in HASHES:
                answer = ask(hash_name)
                assert answer.status == "good" and answer.verified and answer.code == 0, answer
        revoke = run(PKICTL, "cert", "revoke", serial, "--reason", "keyCompromise",
                     env=process_environment(repo.environ,
                                             PKI_CA__PASSPHRASE_FILE=str(tmp_path / "unreadable" / "passphrase")))
        returned = time.monotonic()
        assert revoke.returncode == 0, revoke.stdout + revoke.stderr
        pending, answers = set(HASHES), {}
        while pending and time.monotonic() - returned < 1.0:
            for hash_name in sorted(pending):
                answers[hash_name] = ask(hash_name)
                if answers[hash_name].status == "revoked":
                    pending.discard(hash_name)
        assert not pending, f"openssl -no_nonce still {answers} 1 s after `pkictl cert revoke` returned"
        shown = json.loads(repo.pkictl("cert", "show", serial, "--format", "json").stdout)
        assert shown["status"] == "revoked"
        for answer in answers.values():
            assert answer.verified and answer.reason == "keyCompromise", answer
            assert answer.revoked_at == datetime.fromisoformat(shown["revoked_at"]), answer
        assert GOOD not in stored_statuses(repo.runtime, serial).values()
        assert "re-signing failed" in revoke.stderr, revoke.stderr  # it really failed, and said so

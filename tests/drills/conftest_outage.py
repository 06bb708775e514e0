"""Shared parts of the outage drills (imported explicitly, not a conftest.py): real outages of the ledger,
the three services as real processes, and a small HTTP client that carries the portal's cookie by hand.

Outages, for real:
- PostgreSQL: every service reaches the server through a TCP relay on 127.0.0.1 (tests/revocation); `cut`
  closes its port and every connection through it (the server refuses: connection refused), `blackhole`
  accepts connections and never answers (a host that went silent: only the connect timeout ends the wait).
- SQLite: another process holds the write lock (`BEGIN IMMEDIATE`); every transaction of the services takes
  it too (ca/ledger/database.py), so each waits the configured busy timeout and is then refused. (A server
  process keeps reading a SQLite file it has open even once the file is gone: the moved-file outage is
  drilled in process, tests/drills/test_outage_inprocess.py.)
"""

from __future__ import annotations

import http.client
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import make_url

from ca.runtime import Runtime
from revocation.crl import publish_crls
from tests.frontoffice.world import OPERATOR, Holder, build_world
from tests.portal.support import PASSWORD, password_hash
from tests.revocation.test_ocsp_faults import OutageRequests, TCPRelay, _prepare
from tests.support.server import Server, free_port, start_server, stop_server

BUSY_TIMEOUT_MS = 1000  # the services' SQLite busy timeout in the drills: each locked request waits this long
CONNECT_TIMEOUT_S = 2  # the services' PostgreSQL connect timeout in the drills (libpq's minimum)
RECOVERY_BUDGET_S = 5.0
ALICE = "alice@example.com"  # issue 10: every service answers again within 5 s of the ledger's return


class Relay(TCPRelay):
    """TCPRelay plus `blackhole()`: the port accepts and never forwards, as a host that stopped answering."""

    def blackhole(self) -> None:
        self.cut()
        deadline = time.monotonic() + 5
        while True:  # the cut listener's accept thread lets go of the port within its 50 ms timeout
            try:
                listener = socket.create_server(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        listener.settimeout(0.05)  # the accept loop sees the end of the hole within 50 ms
        self._held: list[socket.socket] = []
        self._hole = listener

        def swallow() -> None:
            while self._hole is listener:
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                self._held.append(client)

        threading.Thread(target=swallow, daemon=True).start()

    def end_blackhole(self) -> None:
        hole = getattr(self, "_hole", None)
        if hole is not None:
            self._hole = None
            try:
                hole.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept, so the port is free at once
            except OSError:
                pass
            hole.close()
            for client in self._held:
                client.close()
            self._hole = None
        deadline = time.monotonic() + 5
        while True:
            try:
                self.resume()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


class Outage:
    """The ledger of `database_url` made unreachable for the services, and brought back."""

    def __init__(self, database_url: str) -> None:
        self.silent = False  # PostgreSQL only: the host stops answering instead of refusing
        self.relay: Relay | None = None
        self.url = database_url
        self._lock: sqlite3.Connection | None = None
        if database_url.startswith("sqlite"):
            self.backend = "sqlite"
            self.path = Path(make_url(database_url).database or "")
        else:
            self.backend = "postgresql"
            url = make_url(database_url)
            self.relay = Relay(url.host or "127.0.0.1", url.port or 5432)
            self.url = url.set(host="127.0.0.1", port=self.relay.port).render_as_string(hide_password=False)

    @property
    def how(self) -> str:
        if self.relay is not None:
            return "host silent (accepts, never answers)" if self.silent else "relay cut (connection refused)"
        return "write lock held by another process"

    def begin(self) -> None:
        if self.relay is not None:
            self.relay.blackhole() if self.silent else self.relay.cut()
            return
        self._lock = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        self._lock.execute("BEGIN IMMEDIATE")

    def end(self) -> None:
        if self.relay is not None:
            self.relay.end_blackhole() if self.silent else self.relay.resume()
            return
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        if self._lock is not None:
            self.end()
        if self.relay is not None:
            self.relay.cut()


# --- HTTP with the cookie carried by hand ------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Browser:
    """One client of one server: keeps the cookies it is given (Secure ones too, over loopback HTTP)."""

    base_url: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
                timeout: float = 15.0) -> Reply:
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        start = time.monotonic()
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        seconds = time.monotonic() - start
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name.strip()] = rest.split(";", 1)[0]
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data, seconds)

    def get(self, path: str, **kwargs: object) -> Reply:
        return self.request("GET", path, **kwargs)  # type: ignore[arg-type]

    def post_form(self, path: str, form: Mapping[str, str], **kwargs: object) -> Reply:
        return self.request("POST", path, body=urlencode(form).encode(),  # type: ignore[arg-type]
                            headers={"Content-Type": "application/x-www-form-urlencoded"}, **kwargs)

    def login(self, email: str, password: str) -> None:
        page = self.get("/login").text
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, page[:500]
        reply = self.post_form("/login", {"email": email, "password": password, "csrf_token": match.group(1)})
        assert reply.status == 302, (reply.status, reply.text[:500])


# --- the three services as real processes --------------------------------------------------------------------
@dataclass
class Services:
    repository: Server
    portal: Server
    frontoffice: Server
    environ: dict[str, str]

    def all(self) -> dict[str, Server]:
        return {"repository": self.repository, "portal": self.portal, "frontoffice": self.frontoffice}


@contextmanager
def running_services(environ: Mapping[str, str], directory: Path) -> Iterator[Services]:
    """`pkictl serve repository`, `portal` and `frontoffice` (proxy mode: plain HTTP, the client certificate
    in the trusted proxy's header, so no TLS client is needed), each in its own process group."""
    fo = directory / "fo"
    env = {
        **environ,
        "PKI_DATABASE__SQLITE_BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS),
        "PKI_DATABASE__CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT_S),
        "PKI_FRONTOFFICE__SERVER_CERT_FILE": str(fo / "server-chain.pem"),
        "PKI_FRONTOFFICE__SERVER_KEY_FILE": str(fo / "server.key.pem"),
        "PKI_FRONTOFFICE__SERVER_KEY_PASSPHRASE_FILE": str(fo / "server.passphrase"),
        "PKI_FRONTOFFICE__CLIENT_CA_FILE": str(fo / "client-ca.pem"),
        "PKI_FRONTOFFICE__TRUSTED_PROXIES": "127.0.0.1",
        "PKI_FRONTOFFICE__MODE": "proxy",
        "PKI_FRONTOFFICE__DECISION_CACHE_MS": "0",
    }
    repository_port = free_port()
    env["PKI_REPOSITORY__BASE_URL"] = f"http://127.0.0.1:{repository_port}"
    with ExitStack() as stack:
        servers = {}
        for service, port, ready in (("repository", repository_port, "/healthz"), ("portal", None, "/healthz"),
                                     ("frontoffice", None, "/healthz")):
            server = start_server(env, directory / "logs", service=service, port=port, ready_path=ready,
                                  timeout=60, extra_env={"PKI_REPOSITORY__BASE_URL": env["PKI_REPOSITORY__BASE_URL"]})
            stack.callback(stop_server, server)
            servers[service] = server
        yield Services(environ=env, **servers)


def wait_until(probe: Callable[[], bool], budget: float, step: float = 0.05) -> float | None:
    """Seconds until `probe()` held, or None if it did not within `budget`."""
    start = time.monotonic()
    while time.monotonic() - start < budget:
        if probe():
            return time.monotonic() - start
        time.sleep(step)
    return None


# --- the drill's world: a ledger with people, a gate certificate, a CRL and two leaves ----------------------
@dataclass
class Drill:
    runtime: Runtime
    services: Services
    outage: Outage
    bob: Holder
    requests: OutageRequests
    issuer_name: str
    issuer: x509.Certificate
    remembered_der: bytes = b""
    crl: bytes = b""

    def portal(self) -> Browser:
        return Browser(self.services.portal.base_url)

    def gate(self) -> Reply:
        pem = quote(self.bob.certificate.public_bytes(Encoding.PEM).decode(), safe="")
        return Browser(self.services.frontoffice.base_url).get(
            "/", headers={"X-SSL-Client-Cert": pem, "X-SSL-Client-Verify": "SUCCESS", "Accept": "application/json"})


@pytest.fixture(name="drill")
def drill_fixture(bare_runtime: Runtime, session_pki, environ: dict[str, str], database_url: str,
          tmp_path: Path) -> Iterator[Drill]:
    runtime = bare_runtime
    world = build_world(runtime, session_pki, tmp_path / "world")
    for email in (ALICE, "bob@example.com"):
        world.set_user(email, status="active", password_hash=password_hash(PASSWORD))
    bob = world.issue("bob", "bob@example.com")
    publish_crls(runtime, OPERATOR)
    requests = _prepare(runtime, OPERATOR, session_pki.issuer)
    outage = Outage(database_url)
    try:
        with running_services({**environ, "PKI_DATABASE__URL": outage.url}, tmp_path) as services:
            yield Drill(runtime, services, outage, bob, requests, session_pki.issuer_name, session_pki.issuer)
    finally:
        outage.close()



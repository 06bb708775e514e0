"""Drill: two portal workers and two OCSP workers behind one address each, on PostgreSQL, with the rate
limits in a real Redis (issue 10 item 7).

`pkictl serve portal --workers 2` and `pkictl serve repository --workers 2` (granian: worker processes
sharing one listening socket; the kernel hands each connection to one of them). A keep-alive connection
stays with its worker, so the drill opens connections until it holds one per worker, and proves which
worker answered each request: by the `pid` of the portal's JSON log lines (matched by X-Request-ID), and by
the per-process counter files of PROMETHEUS_MULTIPROC_DIR for the responders.

Checked: the same OCSP request gets the same status from either worker (good, then revoked, unknown for a
serial never issued); a session made on one portal worker works on the other and ends on both at logout;
the failed-login limit (portal.login_limit_account) counts across workers through Redis (`redis-server`
started here on a free port, no persistence); with Redis stopped, each worker falls back to counting in
memory (still 429 after the limit, never a 500); with Redis back, the shared store is used again.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography.x509 import ocsp
from prometheus_client.mmap_dict import MmapedDict

from ca.ledger.models import User
from ca.metrics import FLUSH_SECONDS
from ca.revoke import revoke_certificate
from ca.x509.serials import format_serial
from tests.conftest import PG_URL, _postgres_schema_url
from tests.drills.conftest import Drill
from tests.portal.support import PASSWORD, password_hash
from tests.revocation.helpers import issue
from tests.revocation.test_ocsp_faults import _checked, cert_id, ocsp_request
from tests.support.server import free_port, running_server
from tests.support.tools import require, require_tool

ACCOUNT_LIMIT = 5  # the first tier of the default portal.login_limit_account ("5 per minute; ...")
ALICE = "alice@example.com"


@pytest.fixture
def database_url() -> Iterator[str]:
    """This drill is about PostgreSQL: one schema of PKI_TEST_DATABASE_URL (required under CI=true)."""
    require(PG_URL is not None, "PKI_TEST_DATABASE_URL is not set: the several-workers drill needs PostgreSQL")
    yield from _postgres_schema_url()


class RedisServer:
    """`redis-server` on a free loopback port, without persistence; stopped and started again at will."""

    def __init__(self, directory: Path) -> None:
        self.binary = require_tool("redis-server")
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.directory / "redis.log", "ab") as out:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.ping():
            assert self.process.poll() is None, (self.directory / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False

    def keys(self) -> list[str]:
        import redis

        return [k.decode() for k in redis.Redis(port=self.port, socket_timeout=1).keys("*")]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- a client whose keep-alive connections each stay with one worker ------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Client:
    """Cookies shared by all its connections (one browser), each connection kept open (one worker)."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)

    def request(self, connection: http.client.HTTPConnection, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        assert not response.will_close, "the server closed a keep-alive connection: the worker is not pinned"
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie, _, rest = value.partition("=")
                self.cookies[cookie.strip()] = rest.split(";", 1)[0]
        self.statuses.append(response.status)
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)


class Portal:
    """The two-worker portal: its client, its log, and a connection pinned to each worker."""

    def __init__(self, port: int, log: Path) -> None:
        self.client = Client(port)
        self.log = log
        self.csrf = ""
        self.workers: dict[int, http.client.HTTPConnection] = {}

    def pid_of(self, request_id: str) -> int:
        """The worker that wrote the log line of the request `request_id`."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith("{") and f'"{request_id}"' in line:
                    return int(json.loads(line)["pid"])
            time.sleep(0.05)
        raise AssertionError(f"no log line for request {request_id}")

    def login(self, connection: http.client.HTTPConnection, email: str, password: str) -> tuple[Answer, str]:
        if not self.csrf:
            page = self.client.request(connection, "GET", "/login")
            match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert match, page.text[:300]
            self.csrf = match.group(1)
        request_id = "drill-" + uuid.uuid4().hex[:12]
        form = urlencode({"email": email, "password": password, "csrf_token": self.csrf}).encode()
        answer = self.client.request(connection, "POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Request-ID": request_id})
        return answer, request_id

    def pin_two_workers(self) -> None:
        """Connections until two different workers hold one: each probe is a refused login of an account
        that does not exist (logged with the worker's pid; it does not touch the accounts under test)."""
        for attempt in range(24):
            connection = self.client.connect()
            answer, request_id = self.login(connection, f"probe-{attempt}@example.com", "wrong")
            assert answer.status == 401, answer.text[:300]
            pid = self.pid_of(request_id)
            if pid in self.workers:
                connection.close()
            else:
                self.workers[pid] = connection
            if len(self.workers) == 2:
                return
        raise AssertionError(f"24 connections all went to the worker(s) {sorted(self.workers)}")


# --- the responders: which worker answered, from their per-process counter files -----------------------
def good_by_pid(directory: Path) -> dict[int, float]:
    """pki_ocsp_responses_total{status=good} per worker process (one counter file per pid)."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[-1])
        for key, value, *_rest in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, _help = json.loads(key)
            if sample == "pki_ocsp_responses_total" and labels.get("status") == "good":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def _post_ocsp(client: Client, connection: http.client.HTTPConnection, der: bytes) -> ocsp.OCSPResponse:
    answer = client.request(connection, "POST", "/pki/ocsp", body=der,
                            headers={"Content-Type": "application/ocsp-request"})
    assert answer.status == 200 and answer.headers["content-type"] == "application/ocsp-response", answer
    return ocsp.load_der_ocsp_response(answer.body)


def _activate(runtime, email: str) -> None:
    from sqlalchemy import select

    with runtime.sessionmaker.begin() as session:
        user = session.execute(select(User).where(User.email == email)).scalar_one()
        user.status = "active"
        user.password_hash = password_hash(PASSWORD)


def test_two_ocsp_workers_give_the_same_answers(runtime, operator, environ, session_pki, tmp_path, drill: Drill):
    drill.injected = "repository with 2 granian workers on PostgreSQL; a revocation while both answer"
    drill.checked = "same OCSP status from each worker (good, revoked, unknown), signed by a certified responder"
    issuer = session_pki.issuer
    serial = issue(runtime, operator).certificate.serial_number
    never = serial ^ 0xFFFF  # a serial this CA never issued
    request, unknown = ocsp_request(cert_id(issuer, serial)), ocsp_request(cert_id(issuer, never))
    metrics = tmp_path / "prometheus"
    metrics.mkdir()
    env = {**environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    with running_server(env, tmp_path / "logs", workers=2, ready_path="/healthz", timeout=60) as server:
        client = Client(server.port)
        workers: dict[int, http.client.HTTPConnection] = {}
        for _attempt in range(16):  # a probe: a few answers on a new connection, then whose counter moved
            connection = client.connect()
            before = good_by_pid(metrics)
            for _ in range(3):
                _checked(_post_ocsp(client, connection, request), issuer, serial)
            time.sleep(FLUSH_SECONDS + 0.5)
            after = good_by_pid(metrics)
            moved = [pid for pid, count in after.items() if count - before.get(pid, 0.0) == 3]
            assert len(moved) == 1, (before, after)
            if moved[0] in workers:
                connection.close()
            else:
                workers[moved[0]] = connection
            if len(workers) == 2:
                break
        assert len(workers) == 2, f"16 connections all went to worker {sorted(workers)}"

        def statuses(der: bytes) -> set[str]:
            return {_post_ocsp(client, c, der).certificate_status.name for c in workers.values()}

        good = {pid: _checked(_post_ocsp(client, c, request), issuer, serial) for pid, c in workers.items()}
        assert {a.certificate_status for a in good.values()} == {ocsp.OCSPCertStatus.GOOD}
        assert statuses(unknown) == {"UNKNOWN"}
        revoke_certificate(runtime, operator, serial=format_serial(serial), reason="keyCompromise")
        started = time.monotonic()
        while statuses(request) != {"REVOKED"}:
            assert time.monotonic() - started < 5, statuses(request)
            time.sleep(0.1)
        seen_revoked = time.monotonic() - started
        for connection in workers.values():
            answer = _checked(_post_ocsp(client, connection, request), issuer, serial)
            assert answer.revocation_reason is not None and answer.revocation_reason.name == "key_compromise"
        assert statuses(unknown) == {"UNKNOWN"}
    assert set(client.statuses) == {200}, client.statuses
    responders = {a.certificates[0].serial_number for a in good.values()}
    drill.figure("workers", f"pids {sorted(workers)}")
    drill.figure("revoked on both within", seen_revoked, "s")
    drill.figure("OCSP answers", len(client.statuses))
    drill.figure("responder certificates", len(responders))
    print(f"\n[drill] 2 OCSP workers {sorted(workers)}: same statuses; revocation seen by both in {seen_revoked:.2f} s")


def test_two_portal_workers_share_sessions_and_rate_limits(runtime, environ, tmp_path, redis_server: RedisServer,
                                                           drill: Drill):
    drill.injected = ("portal with 2 granian workers on PostgreSQL, limits in redis-server; then Redis stopped "
                      "and started again")
    drill.checked = ("a session from one worker works on the other; failed logins counted across workers "
                     f"(429 at attempt {ACCOUNT_LIMIT + 1} on both); Redis down: per-worker memory limits, no 500")
    _activate(runtime, ALICE)
    env = {**environ, "PKI_PORTAL__RATELIMIT_STORAGE": redis_server.url, "PKI_LOGGING__FORMAT": "json",
           "PKI_LOGGING__LEVEL": "info"}
    with running_server(env, tmp_path / "logs", service="portal", workers=2, ready_path="/healthz",
                        timeout=60) as server:
        portal = Portal(server.port, server.log)
        portal.pin_two_workers()
        (pid_a, a), (pid_b, b) = portal.workers.items()

        # A session made on worker A works on worker B, and a logout on B ends it on A.
        answer, _ = portal.login(a, ALICE, PASSWORD)
        assert answer.status == 302, answer.text[:300]
        home = portal.client.request(b, "GET", "/home")
        assert home.status == 200 and "Alice Martin" in home.text, (home.status, home.text[:300])
        page = portal.client.request(b, "GET", "/home")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text[:300]
        out = portal.client.request(b, "POST", "/logout", body=urlencode({"csrf_token": csrf.group(1)}).encode(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert out.status == 302, (out.status, out.text[:300])
        after = portal.client.request(a, "GET", "/home")
        assert after.status in (302, 401) and "Alice Martin" not in after.text, (after.status, after.text[:300])
        portal.csrf = ""  # the logout cleared the session and its CSRF secret

        # Failed logins of one account, alternating between the workers: the limit counts them together.
        target = "bob-" + uuid.uuid4().hex[:6] + "@example.com"
        answered_by = []
        for attempt in range(ACCOUNT_LIMIT):
            connection = a if attempt % 2 == 0 else b
            answer, request_id = portal.login(connection, target, "wrong password")
            assert answer.status == 401, (attempt, answer.status, answer.text[:300])
            answered_by.append(portal.pid_of(request_id))
        assert set(answered_by) == {pid_a, pid_b}, answered_by
        refused = {}
        for pid, connection in portal.workers.items():
            answer, request_id = portal.login(connection, target, "wrong password")
            assert answer.status == 429, (pid, answer.status, answer.text[:300])
            assert portal.pid_of(request_id) == pid  # the 429 is logged, by the worker we pinned
            refused[pid] = answer.status
        assert any(key.startswith("LIMITS:") for key in redis_server.keys()), redis_server.keys()

        # Redis stops: each worker counts in its own memory, with the same limit; never a 500.
        redis_server.stop()
        other = "carol-" + uuid.uuid4().hex[:6] + "@example.com"
        slowest = 0.0
        codes = []
        for _ in range(ACCOUNT_LIMIT + 1):
            started = time.monotonic()
            answer, _ = portal.login(a, other, "wrong password")
            slowest = max(slowest, time.monotonic() - started)
            codes.append(answer.status)
        assert codes == [401] * ACCOUNT_LIMIT + [429], codes
        answer, _ = portal.login(b, other, "wrong password")  # worker B never counted these: its own memory
        assert answer.status == 401, answer.status
        good, _ = portal.login(b, ALICE, PASSWORD)  # logins keep working while Redis is down
        assert good.status == 302, good.status
        portal.csrf = ""

        # Redis is back: the workers return to the shared store (Flask-Limiter re-checks it, growing delay).
        redis_server.start()
        started = time.monotonic()
        back_after = None
        probe = 0
        while time.monotonic() - started < 45:
            probe += 1
            answer, _ = portal.login(a, f"dave-{probe}@example.com", "wrong password")
            assert answer.status == 401, answer.status
            if any(key.startswith("LIMITS:") for key in redis_server.keys()):
                back_after = time.monotonic() - started
                break
            time.sleep(1.0)
        log = server.log_tail(200_000)
    assert back_after is not None, "the portal never used Redis again within 45 s"
    assert all(status < 500 for status in portal.client.statuses), portal.client.statuses
    assert "Traceback" not in log and '"level": "error"' not in log, log[-3000:]
    assert "falling back to in-memory storage" in log, log[-3000:]
    drill.figure("workers", f"pids {pid_a}, {pid_b}")
    drill.figure("attempts before 429", f"{ACCOUNT_LIMIT} (by pids {answered_by})")
    drill.figure("429 from", f"{len(refused)} workers")
    drill.figure("Redis down: slowest login", slowest, "s")
    drill.figure("shared store again after", back_after, "s")
    print(f"\n[drill] 2 portal workers: {ACCOUNT_LIMIT} failures spread over {answered_by}, then 429 on both; "
          f"Redis down: slowest login {slowest:.2f} s, memory limit held; Redis back: shared after {back_after:.1f} s")

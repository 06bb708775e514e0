"""Drill: the ledger goes away under the running services, and comes back (issue 10 §3).

The three services run as real processes (`pkictl serve repository|portal|frontoffice`) on SQLite (another
process holds the write lock) and on PostgreSQL (the relay in front of the server is cut: connection
refused; or it goes silent: only the connect timeout ends the wait). During the outage:
- portal pages: 503 "Temporarily unavailable" with Retry-After, for a logged-in person (the session is
  loaded before the view) and for a login attempt (the rate limiter and the password check);
- API: 503 JSON `{"error": {"kind": "unavailable"}}`;
- except, on SQLite, what only reads: a write lock held elsewhere does not stop a reader in WAL mode
  (read-only transactions begin DEFERRED, issue 14), so a logged-in page and `GET /api/v1/me` are answered
  from the last committed state, at once; what writes (the login) still gets its 503;
- OCSP, POST and GET: the answer remembered before the outage, byte for byte; anything else tryLater;
  always HTTP 200 DER;
- CRL and CA certificate files: still served;
- the gate: fails closed, 503;
- `/healthz` 200 everywhere, `/readyz` 503 naming `ledger`;
- no HTTP 500, and no request waits longer than the configured timeout (plus a margin for the machine).
When the ledger is back, every probe answers normally again within 5 s, without a restart; the seconds
each took are printed for the drill table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.conftest import PG_URL
from tests.drills.conftest import Drill as TableRow
from tests.drills.conftest_outage import (  # noqa: F401  (drill is a fixture)
    ALICE,
    BUSY_TIMEOUT_MS,
    CONNECT_TIMEOUT_S,
    RECOVERY_BUDGET_S,
    Browser,
    Drill,
    Reply,
    Services,
    drill_fixture,
    wait_until,
)
from tests.portal.support import PASSWORD
from tests.revocation.test_ocsp_faults import _outcome, _remember, http_asker
from tests.support.tools import in_ci

MARGIN_S = 3.0  # scheduling slack on a loaded 2-core machine, on top of the configured timeout


def _no_500(replies: dict[str, Reply]) -> None:
    assert not {name: r.status for name, r in replies.items() if r.status >= 500 and r.status != 503}, replies


def _before(drill: Drill, alice: Browser) -> None:
    """Everything answers normally; the OCSP answer is remembered; the CRL is fetched."""
    services = drill.services
    alice.login(ALICE, PASSWORD)
    assert alice.get("/home").status == 200
    assert alice.get("/api/v1/me").status == 200
    assert drill.gate().status == 200
    drill.crl = Browser(services.repository.base_url).get(f"/pki/crl/{drill.issuer_name}.crl").body
    assert drill.crl
    time.sleep(0.3)  # the responder's change feed passes the issuances
    drill.remembered_der = _remember(http_asker(services.repository.base_url), drill.requests, drill.issuer)
    for name, server in services.all().items():
        ready = Browser(server.base_url).get("/readyz")
        assert ready.status == 200, (name, ready.text)


def _during(drill: Drill, alice: Browser, bound: float) -> dict[str, Reply]:
    """Every probe once, each timed; the checks of the module docstring."""
    services = drill.services
    ask = http_asker(services.repository.base_url)
    anonymous = Browser(services.portal.base_url)
    page = anonymous.get("/login").text
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    replies = {
        "portal page (logged in)": alice.get("/home"),
        "portal login POST": anonymous.post_form("/login", {"email": ALICE, "password": PASSWORD, "csrf_token": csrf}),
        "api /me": alice.get("/api/v1/me"),
        "gate": drill.gate(),
        "crl": Browser(services.repository.base_url).get(f"/pki/crl/{drill.issuer_name}.crl"),
    }
    for name, server in services.all().items():
        replies[f"{name} /readyz"] = Browser(server.base_url).get("/readyz")
        replies[f"{name} /healthz"] = Browser(server.base_url).get("/healthz")
    ocsp = {}
    for method in ("POST", "GET"):
        for which in ("remembered", "never_asked"):
            start = time.monotonic()
            reply = ask(method, getattr(drill.requests, which))
            ocsp[f"ocsp {method} {which}"] = (reply, time.monotonic() - start)
    for name, reply in replies.items():
        print(f"  during  {name:28s} HTTP {reply.status}  {reply.seconds:5.2f} s")
    for name, (reply, seconds) in ocsp.items():
        print(f"  during  {name:28s} {_outcome(reply):24s} {seconds:5.2f} s")

    _no_500(replies)
    slow = {name: round(r.seconds, 2) for name, r in replies.items() if r.seconds > bound}
    slow |= {name: round(s, 2) for name, (_r, s) in ocsp.items() if s > bound}
    assert not slow, f"requests waited longer than the configured timeout + margin ({bound:.1f} s): {slow}"

    page_reply = replies["portal page (logged in)"]
    api = replies["api /me"]
    if drill.outage.backend == "sqlite":  # only the write lock is held: readers go on (WAL, DEFERRED)
        assert page_reply.status == 200 and "Alice" in page_reply.text, page_reply.text[:400]
        assert api.status == 200 and json.loads(api.body)["email"] == ALICE, api.text
    else:
        assert page_reply.status == 503 and "Temporarily unavailable" in page_reply.text, page_reply.text[:400]
        assert page_reply.headers.get("retry-after", "").isdigit()
        assert api.status == 503 and json.loads(api.body)["error"]["kind"] == "unavailable", api.text
        assert api.headers.get("retry-after", "").isdigit()
    assert replies["portal login POST"].status == 503, replies["portal login POST"].text[:400]
    assert replies["gate"].status == 503 and replies["gate"].headers.get("retry-after")
    assert replies["crl"].status == 200 and replies["crl"].body == drill.crl
    for name in services.all():
        ready = replies[f"{name} /readyz"]
        assert ready.status == 503 and "ledger" in json.loads(ready.body)["failing"], (name, ready.text)
        assert replies[f"{name} /healthz"].status == 200
    assert {name: _outcome(reply) for name, (reply, _s) in ocsp.items()} == {
        "ocsp POST remembered": "200 SUCCESSFUL GOOD", "ocsp GET remembered": "200 SUCCESSFUL GOOD",
        "ocsp POST never_asked": "200 TRY_LATER", "ocsp GET never_asked": "200 TRY_LATER"}
    assert ocsp["ocsp POST remembered"][0].body == drill.remembered_der
    for name, server in services.all().items():  # the outage is counted where it was met
        errors = ledger_errors(Browser(server.base_url).get("/metrics").text)
        print(f"  during  {name:12s} pki_ledger_errors_total {errors}")
        assert sum(errors.values()) > 0, (name, errors)
    return replies


def ledger_errors(metrics_text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {sample.labels["kind"]: sample.value for family in text_string_to_metric_families(metrics_text)
            if family.name == "pki_ledger_errors" for sample in family.samples if sample.name.endswith("_total")}


def _recovery(drill: Drill, alice: Browser) -> dict[str, float | None]:
    """Seconds from the ledger's return until each probe answers normally again."""
    services = drill.services
    ask = http_asker(services.repository.base_url)
    probes: dict[str, Callable[[], bool]] = {
        "portal page": lambda: alice.get("/home").status == 200,
        "api /me": lambda: alice.get("/api/v1/me").status == 200,
        "gate": lambda: drill.gate().status == 200,
        "ocsp POST": lambda: _outcome(ask("POST", drill.requests.never_asked)) == "200 SUCCESSFUL GOOD",
        "ocsp GET": lambda: _outcome(ask("GET", drill.requests.never_asked)) == "200 SUCCESSFUL GOOD",
    }
    for name, server in services.all().items():
        probes[f"{name} /readyz"] = lambda server=server: Browser(server.base_url).get("/readyz").status == 200
    drill.outage.end()
    returned = time.monotonic()
    seconds: dict[str, float | None] = {}
    for name, probe in probes.items():
        remaining = RECOVERY_BUDGET_S - (time.monotonic() - returned)
        took = wait_until(probe, max(remaining, 0.0) + 0.01)
        seconds[name] = None if took is None else time.monotonic() - returned
    for name, value in seconds.items():
        print(f"  recovered  {name:20s} {'NOT within 5 s' if value is None else f'{value:.2f} s'}")
    late = [name for name, value in seconds.items() if value is None or value > RECOVERY_BUDGET_S]
    assert not late, f"not recovered within {RECOVERY_BUDGET_S} s: {late}"
    return seconds


def _no_tracebacks(services: Services) -> None:
    for name, server in services.all().items():
        log = server.log.read_text(errors="replace")
        assert "unexpected error" not in log and "Traceback" not in log, (name, log[-3000:])
        assert server.process.poll() is None, (name, server.log_tail())


CHECKED = ("portal 503 page + Retry-After, API 503 JSON (SQLite lock: reads served), OCSP remembered or tryLater, gate "
           "fails closed 503, CRL files served, no 500; back within 5 s, no restart")


def _table_row(request: pytest.FixtureRequest, injected: str, seconds: dict[str, float | None]) -> None:
    """The drill's row in `make drill`'s table: what was cut, and how long each probe took to come back."""
    row = TableRow(request.node.user_properties, injected=injected, checked=CHECKED)
    for name, value in seconds.items():
        row.figure(f"{name} back in", "never" if value is None else value, "" if value is None else "s")


def test_ledger_outage_and_recovery(drill: Drill, request: pytest.FixtureRequest) -> None:
    alice = drill.portal()
    _before(drill, alice)
    bound = (BUSY_TIMEOUT_MS / 1000 if drill.outage.backend == "sqlite" else 0.0) + MARGIN_S
    print(f"\n[drill] ledger outage on {drill.outage.backend}: {drill.outage.how}")
    drill.outage.begin()
    _during(drill, alice, bound)
    seconds = _recovery(drill, alice)
    worst = max(v for v in seconds.values() if v is not None)
    print(f"[drill] {drill.outage.backend} outage: every service recovered in {worst:.2f} s (budget 5 s)")
    _table_row(request, f"{drill.outage.backend}: {drill.outage.how}", seconds)
    _no_tracebacks(drill.services)


@pytest.mark.postgres
@pytest.mark.skipif(PG_URL is None and not in_ci(), reason="needs PKI_TEST_DATABASE_URL (under CI it is always set)")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_silent_database_host_is_bounded_by_the_connect_timeout(drill: Drill, request: pytest.FixtureRequest) -> None:
    """The relay accepts connections and never answers: each request waits at most the connect timeout."""
    alice = drill.portal()
    _before(drill, alice)
    assert drill.outage.relay is not None
    print(f"\n[drill] PostgreSQL host silent (connect timeout {CONNECT_TIMEOUT_S} s)")
    drill.outage.silent = True
    drill.outage.begin()
    _during(drill, alice, CONNECT_TIMEOUT_S + MARGIN_S)
    seconds = _recovery(drill, alice)
    worst = max(v for v in seconds.values() if v is not None)
    print(f"[drill] silent PostgreSQL host: every service recovered in {worst:.2f} s (budget 5 s)")
    _table_row(request, f"postgresql: {drill.outage.how}", seconds)
    _no_tracebacks(drill.services)

"""`/metrics`, `/healthz` and `/readyz` of the three services, scraped from real processes (issue 10 §9).

The families and their values are checked against what the test did: OCSP answers by status (good,
malformedRequest, unauthorized) and the latency histogram, the gate's decisions by reason, the CRL's age
and size per issuer, the responder certificate's expiry, issuance by profile (the repository issues its
responder certificate at start), ledger errors. With PROMETHEUS_MULTIPROC_DIR and two worker processes,
every scrape reports the sum over the workers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ca.metrics import FLUSH_SECONDS
from tests.drills.conftest_outage import Browser, Drill, drill_fixture, wait_until  # noqa: F401  (a fixture)
from tests.revocation.test_ocsp_faults import http_asker
from tests.support.server import running_server

FAMILIES = {"pki_certificates_issued", "pki_issuance_seconds", "pki_ocsp_responses", "pki_ocsp_response_seconds",
            "pki_gate_decisions", "pki_ledger_errors", "pki_crl_publish_failures"}
REPOSITORY_ONLY = {"pki_crl_age_seconds", "pki_crl_size_bytes", "pki_crl_next_update_seconds",
                   "pki_ocsp_responder_expiry_seconds"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_health_and_readiness_of_every_service(drill: Drill) -> None:
    services = drill.services
    ask = http_asker(services.repository.base_url)
    for _ in range(16):
        assert ask("POST", drill.requests.remembered).status == 200
    for _ in range(8):
        ask("GET", drill.requests.never_asked)
    ask("POST", b"not an OCSP request")
    assert drill.gate().status == 200
    anonymous = Browser(services.frontoffice.base_url).get("/", headers={"Accept": "application/json"})
    assert anonymous.status == 403

    scraped = {}
    for name, server in services.all().items():
        browser = Browser(server.base_url)
        health = browser.get("/healthz")
        assert health.status == 200 and json.loads(health.body) == {"service": name, "status": "alive"}
        ready = browser.get("/readyz")
        assert ready.status == 200, ready.text
        checks = json.loads(ready.body)["checks"]
        assert set(checks) == ({"ledger", "issuer_keys", "crls", "ocsp"} if name == "repository"
                               else {"ledger", "issuer_keys"}), checks
        reply = browser.get("/metrics")
        assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain"), reply.headers
        found = families(reply.text)
        expected = FAMILIES | (REPOSITORY_ONLY if name == "repository" else set())
        assert expected <= found, (name, sorted(expected - found))
        scraped[name] = samples(reply.text)

    repository, frontoffice = scraped["repository"], scraped["frontoffice"]
    assert value(repository, "pki_ocsp_responses_total", status="good") >= 24
    assert value(repository, "pki_ocsp_responses_total", status="malformedRequest") == 1
    assert value(repository, "pki_ocsp_responses_total", status="tryLater") == 0
    timed = value(repository, "pki_ocsp_response_seconds_count")
    total = value(repository, "pki_ocsp_response_seconds_sum")
    assert timed >= 3 and 0 < total / timed < 0.5, (timed, total)  # one answer in 8 is timed
    assert value(repository, "pki_certificates_issued_total", profile="ocsp-responder") >= 1
    assert value(repository, "pki_issuance_seconds_count", profile="ocsp-responder") >= 1
    for kind in ("full", "delta"):
        age = value(repository, "pki_crl_age_seconds", issuer=drill.issuer_name, kind=kind)
        size = repository[("pki_crl_size_bytes", (("issuer", drill.issuer_name), ("kind", kind)))]
        assert 0 <= age < 3600 and 100 < size < 100_000, (kind, age, size)
    expiry = repository[("pki_ocsp_responder_expiry_seconds", (("issuer", drill.issuer_name),))]
    assert 0 < expiry <= 30 * 86400, expiry
    assert value(frontoffice, "pki_gate_decisions_total", reason="ok") >= 1
    assert value(frontoffice, "pki_gate_decisions_total", reason="no_certificate") >= 1
    print(f"\n[drill] metrics: OCSP good {value(repository, 'pki_ocsp_responses_total', status='good'):.0f}, "
          f"mean latency {total / timed * 1e6:.0f} µs over {timed:.0f} timed answers; responder expires in "
          f"{expiry / 86400:.1f} days; CRL {size:.0f} bytes")


@pytest.fixture
def multiproc_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    yield directory


def test_metrics_sum_over_worker_processes(runtime, environ, operator, session_pki, tmp_path, multiproc_dir):
    """Two granian workers share PROMETHEUS_MULTIPROC_DIR: each scrape, whichever worker answers it, reports
    every answer of both workers (both counted some: one counter file per worker process)."""
    from tests.revocation.test_ocsp_faults import _prepare

    requests = _prepare(runtime, operator, session_pki.issuer)
    env = {**environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    with running_server(env, tmp_path / "logs", workers=2, ready_path="/healthz") as server:
        ask = http_asker(server.base_url)
        sent = 240
        with ThreadPoolExecutor(8) as pool:  # one connection per request, 8 at a time: both workers get some
            statuses = list(pool.map(lambda _: ask("POST", requests.remembered).status, range(sent)))
        assert statuses == [200] * sent

        def good() -> float:
            return value(samples(Browser(server.base_url).get("/metrics").text), "pki_ocsp_responses_total",
                         status="good")

        # Each worker moves its counts into the shared files every FLUSH_SECONDS (ca.metrics.FastCounts).
        assert wait_until(lambda: good() == sent, FLUSH_SECONDS + 2.0, step=0.2) is not None, good()
        counts = {good() for _ in range(6)}
        written = sorted(path.name for path in multiproc_dir.iterdir())
    assert counts == {float(sent)}, (counts, written)
    # Both workers wrote their own files (which one the kernel hands each connection to is not ours to choose,
    # so a worker may have answered no OCSP request at all): the scrape above summed across processes.
    assert len({name.rsplit("_", 1)[-1] for name in written}) >= 2, written
    print(f"\n[drill] multiprocess metrics: {sent} answers over 2 workers, every scrape said {counts.pop():.0f}")


def test_json_logs_one_object_per_line_with_request_id(runtime, environ, tmp_path):
    """logging.format = json: every line of the portal's log is one JSON object with the fields; a request's
    lines carry its id, which the response echoes (a refused login writes a security warning)."""
    from urllib.parse import urlencode

    env = {**environ, "PKI_LOGGING__FORMAT": "json", "PKI_LOGGING__LEVEL": "info"}
    with running_server(env, tmp_path / "logs", service="portal", ready_path="/healthz") as server:
        browser = Browser(server.base_url)
        page = browser.get("/login", headers={"X-Request-ID": "bad id with spaces"})
        assert page.status == 200 and len(page.headers["x-request-id"]) == 16  # not sane: a fresh one
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = urlencode({"email": "alice@example.com", "password": "wrong-password", "csrf_token": csrf}).encode()
        refused = browser.request("POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Request-ID": "drill-42"})
        assert refused.status == 401 and refused.headers["x-request-id"] == "drill-42", refused.text[:300]
        time.sleep(0.2)
        lines = [line for line in server.log.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records, server.log_tail()
    for record in records:
        assert {"time", "level", "service", "event", "logger"} <= set(record), record
        assert record["service"] == "portal"
    tagged = [r for r in records if r.get("request_id") == "drill-42"]
    assert tagged and "login refused" in tagged[0]["event"], records
    print(f"\n[drill] JSON logs: {len(records)} line(s), e.g. {json.dumps(tagged[0])[:200]}")

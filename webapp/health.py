"""`GET /healthz`, `GET /readyz` and `GET /metrics` for every service (issue 10 §9), as bare WSGI.

- `/healthz`: the process answers (200 "ok"), whatever the ledger does: a liveness probe must not restart
  a service that is only waiting for its database.
- `/readyz`: revocation.health's checks as JSON; 200 when every item is ok, else 503 (with Retry-After)
  and `failing` naming the items that are not.
- `/metrics`: Prometheus text format (prometheus_client): the counters of ca.metrics, and gauges computed at
  scrape time (CRL age and size per issuer, responder certificate expiry). With several worker processes,
  set PROMETHEUS_MULTIPROC_DIR (an empty directory, the same for every worker of a service, emptied before
  it starts): each worker writes its values there and any worker answers the sum (prometheus_client's
  multiprocess mode). Without it, each worker answers with its own counts only.

These paths answer before the portal's session loading and before the front office's gate, so an outage
of the ledger cannot turn them into an error page. Put them behind the reverse proxy's access rules when
the service is public (the repository is): metrics are operational details.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ca.metrics import flush_all
from ca.runtime import Runtime
from revocation.health import OK, crl_facts, readiness
from revocation.ocsp import OCSPService

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_SECONDS = "5"


class ScrapeTimeGauges(Collector):
    """Gauges read when scraped: the published CRL files and the responder certificates in memory."""

    def __init__(self, runtime: Runtime, ocsp: OCSPService | None, crls: bool) -> None:
        self.runtime = runtime
        self.ocsp = ocsp
        self.crls = crls

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.runtime.clock.now()
        if self.crls:
            age = GaugeMetricFamily("pki_crl_age_seconds", "Seconds since the published CRL's thisUpdate",
                                    labels=["issuer", "kind"])
            size = GaugeMetricFamily("pki_crl_size_bytes", "Size of the published CRL file", labels=["issuer", "kind"])
            remaining = GaugeMetricFamily("pki_crl_next_update_seconds", "Seconds until the published CRL's "
                                          "nextUpdate (negative: stale)", labels=["issuer", "kind"])
            for fact in crl_facts(self.runtime.settings.repository.crl_dir):
                stem = fact.file.removesuffix(".crl")
                issuer, kind = (stem.removesuffix("-delta"), "delta") if stem.endswith("-delta") else (stem, "full")
                age.add_metric([issuer, kind], (now - fact.this_update).total_seconds())
                size.add_metric([issuer, kind], fact.size)
                if fact.next_update is not None:
                    remaining.add_metric([issuer, kind], (fact.next_update - now).total_seconds())
            yield from (age, size, remaining)
        if self.ocsp is not None:
            expiry = GaugeMetricFamily("pki_ocsp_responder_expiry_seconds", "Seconds until the delegated OCSP "
                                       "responder certificate expires", labels=["issuer"])
            for issuer, certificate in self.ocsp.responders():
                expiry.add_metric([issuer], (certificate.not_valid_after_utc - now).total_seconds())
            yield expiry


class HealthEndpoints:
    """The three paths of one service; `handle` answers them, or returns None for any other path."""

    def __init__(self, runtime: Runtime, service: str, *, ocsp: OCSPService | None = None,
                 crls: bool = False) -> None:
        self.runtime = runtime
        self.service = service
        self.ocsp = ocsp
        self.crls = crls
        self._gauges = CollectorRegistry(auto_describe=False)
        self._gauges.register(ScrapeTimeGauges(runtime, ocsp, crls))

    def handle(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes] | None:
        path = environ.get("PATH_INFO") or "/"
        if path not in HEALTH_PATHS:
            return None
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"method not allowed\n",
                           "text/plain; charset=utf-8", [("Allow", "GET, HEAD")])
        if path == "/healthz":
            body = json.dumps({"service": self.service, "status": "alive"}).encode()
            return _answer(start_response, "200 OK", body, "application/json")
        if path == "/readyz":
            return self._ready(start_response)
        return _answer(start_response, "200 OK", self.metrics(), CONTENT_TYPE_LATEST)

    def _ready(self, start_response: StartResponse) -> Iterable[bytes]:
        checks = readiness(self.runtime, ocsp=self.ocsp, crls=self.crls)
        failing = [check.name for check in checks if check.state != OK]
        body = json.dumps({
            "service": self.service, "ready": not failing, "failing": failing,
            "checks": {check.name: {"state": check.state, "detail": check.detail} for check in checks},
        }).encode()
        if failing:
            return _answer(start_response, "503 Service Unavailable", body, "application/json",
                           [("Retry-After", RETRY_AFTER_SECONDS)])
        return _answer(start_response, "200 OK", body, "application/json")

    def metrics(self) -> bytes:
        flush_all()  # the hot paths' pending counts (ca.metrics.FastCounts)
        # prometheus_client switches to its multiprocess value files when this variable is set at import.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = REGISTRY
        return generate_latest(registry) + generate_latest(self._gauges)


class HealthMiddleware:
    """In front of a WSGI application (the portal's Flask app, the front office's gate)."""

    def __init__(self, app: WSGIApp, endpoints: HealthEndpoints) -> None:
        self.app = app
        self.endpoints = endpoints

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = self.endpoints.handle(environ, start_response)
        return answer if answer is not None else self.app(environ, start_response)


def _answer(start_response: StartResponse, status: str, body: bytes, media_type: str,
            extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", media_type), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store"), *(extra or [])])
    return [body]

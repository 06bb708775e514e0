"""Prometheus metric families of every service (issue 10 §9), defined once, with the official client.

Counters and histograms are module-level so counting costs one call on a pre-bound child (no label lookup
on the OCSP hot path); gauges that describe files and certificates (CRL age and size, responder expiry) are
computed when `/metrics` is scraped (revocation.health), not kept up to date here.

Several worker processes: when PROMETHEUS_MULTIPROC_DIR names a writable, empty-at-start directory in
the environment of every worker, prometheus_client keeps these values in files there and `/metrics`
(webapp.metrics) sums them over the processes. Without it, each worker answers with its own counts.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref

from prometheus_client import Counter, Histogram

# Buckets in seconds: an OCSP answer from memory costs tens of microseconds, a signed one a millisecond.
OCSP_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0)
ISSUANCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

CERTIFICATES_ISSUED = Counter("pki_certificates_issued", "Certificates issued, by profile", ["profile"])
ISSUANCE_SECONDS = Histogram("pki_issuance_seconds", "Time to issue one certificate (validate, record, sign, "
                             "record), by profile", ["profile"], buckets=ISSUANCE_BUCKETS)
OCSP_RESPONSES = Counter("pki_ocsp_responses", "OCSP answers, by status: good, revoked, unknown (successful) "
                         "or the unsigned failure (tryLater, malformedRequest, unauthorized, internalError)",
                         ["status"])
OCSP_SECONDS = Histogram("pki_ocsp_response_seconds", "Time to build one OCSP answer (from memory, the ledger "
                         "or freshly signed)", buckets=OCSP_BUCKETS)
GATE_DECISIONS = Counter("pki_gate_decisions", "Front-office gate decisions, by reason (ok = allowed)",
                         ["reason"])
LEDGER_ERRORS = Counter("pki_ledger_errors", "Ledger outages met (database down, refusing, locked or gone), "
                        "by kind", ["kind"])
CRL_PUBLISH_FAILURES = Counter("pki_crl_publish_failures", "CRL publications that failed (the previous CRL "
                               "stays in place and is retried)", ["issuer"])
CERTIFICATES_LINTED = Counter("pki_certificates_linted", "Issued certificates linted after the fact in the "
                              "background (ca.certificate_lint), by outcome: clean, finding, error", ["outcome"])
CERTIFICATE_LINT_FINDINGS = Counter("pki_certificate_lint_findings", "pkilint findings on issued certificates "
                                    "(an alert each), by finding code", ["code"])

OCSP_STATUSES = ("good", "revoked", "unknown", "several", "tryLater", "malformedRequest", "unauthorized",
                 "internalError")
OCSP_OBSERVE = OCSP_SECONDS.observe
FLUSH_SECONDS = 1.0


class FastCounts:
    """Counts by label for a hot path: `next(counts[label])` is one C call under the GIL (itertools.count),
    no lock and no float arithmetic; `flush()` moves the new counts into the prometheus Counter (its own lock,
    its multiprocess files). Flushed every FLUSH_SECONDS by one thread per process, and before each scrape,
    so `/metrics` is exact in this process and at most FLUSH_SECONDS behind for the other workers."""

    def __init__(self, counter: Counter, labels: tuple[str, ...]) -> None:
        self.counter = counter
        self.counts = {label: itertools.count() for label in labels}
        self._flushed = dict.fromkeys(labels, 0)
        self._lock = threading.Lock()
        _register(self)

    def flush(self) -> None:
        with self._lock:
            for label, count in self.counts.items():
                total = int(repr(count)[6:-1])  # "count(N)": read without counting
                delta = total - self._flushed[label]
                if delta:
                    self.counter.labels(label).inc(delta)
                    self._flushed[label] = total


_LIVE: weakref.WeakSet[FastCounts] = weakref.WeakSet()
_FLUSHER_PID: list[int] = []


def flush_all() -> None:
    for counts in list(_LIVE):
        counts.flush()


def _flush_forever() -> None:
    # Event.wait, not time.sleep: both count monotonic time, but libfaketime 0.9.10 (Debian bookworm) with
    # FAKETIME_DONT_FAKE_MONOTONIC makes Python 3.11's time.sleep raise EINVAL (wolfcw/libfaketime#426),
    # and the clock-step drill runs the repository under it (tests/drills/test_clock_step.py).
    never = threading.Event()
    while True:
        never.wait(FLUSH_SECONDS)
        flush_all()


def _register(counts: FastCounts) -> None:
    _LIVE.add(counts)
    if _FLUSHER_PID != [os.getpid()]:  # one thread per process (a forked worker starts its own)
        _FLUSHER_PID[:] = [os.getpid()]
        threading.Thread(target=_flush_forever, name="metrics-flush", daemon=True).start()

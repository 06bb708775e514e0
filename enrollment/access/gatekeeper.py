"""The gate's memory in one process, owned by the front-office application (one Gatekeeper per Gate).

- decisions: the answer for (certificate, page), held until the ledger's change feed shows a change that
  may alter it (enrollment.access.decision_cache), so a certificate already seen costs one lookup while a
  revocation is still refused within `frontoffice.decision_cache_ms` (at most one second, DESIGN §5);
  `decision_cache_ms = 0` turns the cache off (every request reads the ledger);
- refusals: identical refusals within `refusal_audit_interval_seconds` are folded into the next
  `gate.refused` event's `repeated` count, so a client retrying in a loop cannot flood the audit chain;
- last uses: `last_used_at` is written at most once per certificate per `last_use_interval_seconds`, so
  load does not become write load (the "unused for N days" filter and `revoke-unused` read it);
- issuer certificates: parsed once.
Each memory is a BoundedDict: its size does not depend on what clients send.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime, timedelta

from cryptography import x509

from ca.ledger import gate_store
from ca.revoke import announce_revocations
from ca.runtime import Runtime
from ca.supersession import supersede_at_first_use
from enrollment.access.bounded import BoundedDict
from enrollment.access.decision import audit_refusal, decide_from_ledger
from enrollment.access.decision_cache import DecisionCache, DecisionKey
from enrollment.access.views import AccessDecision

MAX_ENTRIES = 100_000
MAX_ISSUERS = 256

RefusalKey = tuple[str, str, str | None, str | None]


def certificate_digest(der: bytes) -> str:
    """The SHA-256 of a certificate's DER (hex): the key of its decisions and refusals; "" for none."""
    return hashlib.sha256(der).hexdigest() if der else ""


class Gatekeeper:
    def __init__(self, runtime: Runtime, *, max_entries: int = MAX_ENTRIES) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        ttl = runtime.settings.frontoffice.decision_cache_ms / 1000.0
        self.decisions = DecisionCache(runtime, max_entries, ttl) if ttl > 0 else None
        self._refusals: BoundedDict[RefusalKey, tuple[float, int]] = BoundedDict(max_entries)
        self._last_use: BoundedDict[int, datetime] = BoundedDict(max_entries)
        self._issuers: BoundedDict[bytes, x509.Certificate] = BoundedDict(MAX_ISSUERS)
        self._last_use_interval = timedelta(seconds=runtime.settings.frontoffice.last_use_interval_seconds)

    def issuer_certificate(self, der: bytes) -> x509.Certificate:
        cert = self._issuers.get(der)
        if cert is None:
            cert = x509.load_der_x509_certificate(der)
            with self._lock:
                self._issuers[der] = cert
        return cert

    def decide(self, *, certificate_der: bytes, service: str | None, connection_point: str | None = None,
               tls_error: str | None = None, source_ip: str | None = None, digest: str | None = None,
               now: datetime | None = None) -> AccessDecision:
        """The decision for this certificate and page (enrollment.access.decision), from the decision cache
        when it holds one; every refusal is audited (throttled). `digest` is `certificate_digest(der)` when
        the caller remembers it; `now` the runtime clock's reading for this request."""
        if digest is None:
            digest = certificate_digest(certificate_der)
        key: DecisionKey = (digest + ("!" + tls_error if tls_error else ""), service, connection_point)
        cache = self.decisions
        decision = cache.get(key, now or self.runtime.clock.now()) if cache is not None else None
        if decision is None:
            generation = cache.generation if cache is not None else 0
            decision = decide_from_ledger(self.runtime, certificate_der, digest, service, connection_point,
                                          tls_error, self.issuer_certificate)
            if cache is not None:
                cache.put(key, decision, generation)
        if not decision.allowed:
            self._audit_refusal(decision, digest, source_ip, tls_error)
        return decision

    def _audit_refusal(self, decision: AccessDecision, digest: str, source_ip: str | None,
                       tls_error: str | None) -> None:
        """One event per (certificate, reason, page) per interval; the repeats are counted into the next one."""
        interval = self.runtime.settings.frontoffice.refusal_audit_interval_seconds
        key = (digest or f"ip:{source_ip}", decision.code, decision.service, decision.connection_point)
        now_mono = time.monotonic()
        with self._lock:
            last, repeated = self._refusals.get(key) or (float("-inf"), 0)
            if now_mono - last < interval:
                self._refusals[key] = (last, repeated + 1)
                return
            self._refusals[key] = (now_mono, 0)
        audit_refusal(self.runtime, decision, digest, source_ip, tls_error, repeated)

    def record_last_use(self, decision: AccessDecision, now: datetime | None = None) -> bool:
        """Write last_used_at for an allowed decision at most once per interval; True when the ledger changed.

        This memory skips the database entirely inside the interval; the conditional UPDATE keeps several
        processes (gunicorn workers) from writing more than once per interval between them.
        """
        if not decision.allowed or decision.certificate_id is None:
            return False
        interval = self._last_use_interval
        now = now or self.runtime.clock.now()
        previous = self._last_use.get(decision.certificate_id)
        if previous is not None and now - previous < interval:
            return False
        superseded = None
        with self.runtime.sessionmaker.begin() as session:
            written = gate_store.mark_certificate_used(session, decision.certificate_id, at=now,
                                                       not_since=now - interval)
            if written:  # a renewal's first use revokes its predecessor in the same transaction (issue 11)
                superseded = supersede_at_first_use(self.runtime, session, decision.certificate_id)
        if superseded is not None:
            announce_revocations(self.runtime, [superseded])
        with self._lock:
            self._last_use[decision.certificate_id] = now
        return written

"""OCSP answers (RFC 6960; RFC 5019/9919 for the pre-signed, cacheable profile).

Responses without a nonce are pre-signed: stored in the ledger (shared by every responder process and by
`pkictl ocsp refresh`) and kept in memory keyed by the raw request bytes, so a repeated request costs one
dictionary lookup. A request with a nonce gets a freshly signed response echoing it (RFC 9654). Revocations
reach the responder through the audit trail used as a change feed, polled several times a second.
Every failure is an unsigned OCSP status, never an exception for the web layer (Boulder, django-ca bugs).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509 import ocsp as x509_ocsp

from ca.actor import SYSTEM, Actor
from ca.errors import LedgerUnavailableError
from ca.issuer import Issuer
from ca.ledger import store
from ca.ledger.models import CertificateRecord
from ca.metrics import OCSP_OBSERVE, OCSP_RESPONSES, OCSP_STATUSES, FastCounts
from ca.runtime import RevokedSerial, Runtime
from ca.vocabulary import SIGNED_STATUSES, CertificateStatus, IssuerStatus
from ca.x509.ocsp import (
    OCSPMalformed,
    SingleStatus,
    build_response,
    cert_id_der,
    decode_get_path,
    failure_response,
    issuer_match_keys,
    parse_request,
)
from ca.x509.reasons import REASON_CODES
from ca.x509.serials import format_serial
from ca.x509.validity import half_life, needs_refresh, renewal_due
from revocation.responder import Responder, current_responder, ensure_responder

PRESIGNED_HASHES = ("sha1", "sha256")
# Every answer is counted by status (ca.metrics.FastCounts: one C call, no lock); one in LATENCY_SAMPLE is
# timed for the latency histogram, so the hot path does not pay two clock reads and a histogram each time.
LATENCY_SAMPLE = 8
log = logging.getLogger("portail.ocsp")


@dataclass(frozen=True)
class Answer:
    """An encoded OCSPResponse and, for successful cacheable ones, its validity (RFC 5019 §6.2 headers)."""

    der: bytes
    this_update: datetime | None = None
    next_update: datetime | None = None
    cacheable: bool = False
    # good | revoked | unknown | several (successful answers), else the unsigned failure's name (metrics)
    status: str = "internalError"


def _failure(status: str) -> Answer:
    return Answer(failure_response(status), status=status)


@dataclass(eq=False)
class _IssuerContext:
    issuer: Issuer
    responder: Responder


def _status_for(record: CertificateRecord | None, cert_id: bytes) -> SingleStatus:
    """Never `good` for a serial we did not issue (BR §4.9.9): unknown rows and unfinished ones are unknown."""
    if record is None or record.status not in SIGNED_STATUSES:
        return SingleStatus(cert_id, "unknown")
    if record.status == CertificateStatus.REVOKED:
        code = REASON_CODES.get(record.revocation_reason or "")
        return SingleStatus(cert_id, "revoked", record.revoked_at, code or None)
    return SingleStatus(cert_id, "good")


def _sign(runtime: Runtime, context: _IssuerContext, statuses: list[SingleStatus], nonce: bytes | None,
          now: datetime) -> Answer:
    next_update = now + timedelta(hours=runtime.settings.ocsp.validity_hours)
    der = build_response(responder_cert=context.responder.certificate, responder_signer=context.responder.signer,
                         statuses=statuses, this_update=now, next_update=next_update, produced_at=now, nonce=nonce)
    status = statuses[0].status if len(statuses) == 1 else "several"
    return Answer(der, now, next_update, cacheable=nonce is None, status=status)


def _presign(runtime: Runtime, context: _IssuerContext, serials: Iterable[str], now: datetime) -> int:
    """Sign SHA-1 and SHA-256 CertID answers for `serials` and store them in the ledger."""
    count = 0
    issuer = context.issuer
    with runtime.sessionmaker.begin() as session:
        for serial in serials:
            record = store.get_certificate_status(session, issuer.id, serial, lock=True)
            for hash_name in PRESIGNED_HASHES:
                cid = cert_id_der(issuer.certificate, int(serial, 16), hash_name)
                answer = _sign(runtime, context, [_status_for(record, cid)], None, now)
                next_update = answer.next_update
                assert next_update is not None
                store.put_ocsp_response(session, issuer_id=issuer.id, serial=serial, hash_name=hash_name,
                                        der=answer.der, this_update=now, next_update=next_update)
                count += 1
    return count


def _contexts(runtime: Runtime, actor: Actor, issuer_name: str | None = None) -> list[_IssuerContext]:
    with runtime.sessionmaker() as session:
        records = [store.get_issuer_by_name(session, issuer_name)] if issuer_name else store.list_issuers(session)
    issuers = [runtime.issuer_from_record(r) for r in records if r.status != IssuerStatus.REMOVED]
    return [_IssuerContext(i, ensure_responder(runtime, i, actor)) for i in issuers]


def refresh_ocsp(runtime: Runtime, actor: Actor, *, issuer_name: str | None = None, force: bool = False) -> int:
    """`pkictl ocsp refresh`: renew responder certificates and re-sign answers past half of their validity."""
    now = runtime.clock.now()
    total = 0
    for context in _contexts(runtime, actor, issuer_name):
        with runtime.sessionmaker() as session:
            serials = store.list_live_serials(session, context.issuer.id, now)
            stale = []
            for serial in serials:
                stored = store.get_ocsp_response(session, context.issuer.id, serial, "sha1")
                if force or stored is None or needs_refresh(stored.this_update, stored.next_update, now):
                    stale.append(serial)
        total += _presign(runtime, context, stale, now)
    return total


def attach_presigner(runtime: Runtime) -> Runtime:
    """Adapters call this on the runtime they build: revocations then pre-sign their OCSP answers after the
    commit (ca.revoke.announce_revocations). Without it, responders still answer from the ledger."""
    if presign_revoked not in runtime.revocation_listeners:
        runtime.revocation_listeners.append(presign_revoked)
    return runtime


def presign_revoked(runtime: Runtime, changed: list[RevokedSerial]) -> None:
    """A revocation listener (ca.revoke.announce_revocations): sign and store the answers of just-revoked
    certificates after the commit, so responders in every process find them ready. It signs only with a
    responder that is already current: revoking never issues a responder certificate (the responders and the
    maintenance pass do that)."""
    now = runtime.clock.now()
    by_issuer: dict[int, list[str]] = {}
    for issuer_id, serial in changed:
        by_issuer.setdefault(issuer_id, []).append(serial)
    with runtime.sessionmaker() as session:
        records = [r for r in store.list_issuers(session) if r.id in by_issuer]
    for record in records:
        issuer = runtime.issuer_from_record(record)
        responder = current_responder(runtime, issuer)
        if responder is None:
            log.info("no current OCSP responder for %s: its answers will be signed on demand", issuer.name)
            continue
        _presign(runtime, _IssuerContext(issuer, responder), by_issuer[record.id], now)


class OCSPService:
    """The responder's state in one process: issuers by CertID hashes, answers by raw request bytes.

    `respond` is the one entry point: it takes the request as it came (POST body or GET path) and owns the
    whole failure net, so every outcome is a DER OCSPResponse the web layer sends with HTTP 200
    (RFC 6960 §2.3): the answer, `malformedRequest`, `unauthorized`, `tryLater` (the ledger is unavailable
    and no valid answer is held in memory) or `internalError` (anything else, logged).
    """

    def __init__(self, runtime: Runtime, poll_seconds: float = 0.25) -> None:
        self.runtime = runtime
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._by_match_key: dict[tuple[str, bytes, bytes], _IssuerContext] = {}
        # raw request DER → (Answer, its thisUpdate and refresh deadline as POSIX timestamps of the runtime clock)
        self._answers: dict[bytes, tuple[Answer, float, float]] = {}
        self._requests_by_serial: dict[str, set[bytes]] = {}
        self._cursor = 0
        self._last_poll = 0.0
        self._loaded = False
        self._poll_lock = threading.Lock()
        self._sequence = itertools.count()  # next() is atomic under the GIL: no lock of ours
        self.answer_counts = FastCounts(OCSP_RESPONSES, OCSP_STATUSES)
        self._count_of = self.answer_counts.counts
        try:
            self.reload()
        except LedgerUnavailableError:
            log.warning("ledger unavailable at start: OCSP answers tryLater until it is back")

    # -- state ---------------------------------------------------------------------------------------
    def reload(self) -> None:
        with self.runtime.sessionmaker() as session:
            cursor = store.last_event_id(session)
        contexts = _contexts(self.runtime, SYSTEM)
        by_key = {key: context for context in contexts for key in issuer_match_keys(context.issuer.certificate)}
        with self._lock:
            self._by_match_key = by_key
            self._answers.clear()
            self._requests_by_serial.clear()
            self._cursor = cursor
            self._loaded = True

    def poll(self) -> None:
        """Apply revocations and new issuers committed by any process since the last look: the change feed
        (the audit trail) names each revoked serial, whose remembered answers are dropped at once."""
        now = time.monotonic()
        if self._loaded and now - self._last_poll < self.poll_seconds:
            return
        # One thread looks at the feed; the others answer from memory meanwhile instead of queueing behind
        # it (a locked or silent ledger makes that look last the whole busy or connect timeout).
        if not self._loaded:
            self._last_poll = now
            self.reload()
            return
        if not self._poll_lock.acquire(blocking=False):
            return
        try:
            self._last_poll = now
            self._apply_changes()
        finally:
            self._poll_lock.release()

    def _apply_changes(self) -> None:
        with self.runtime.sessionmaker() as session:
            cursor, changes = store.changes_since(session, self._cursor)
        if any(action.startswith("issuer.") for action, _ in changes):
            self.reload()
            return
        with self._lock:
            self._cursor = cursor
            for _action, serial in changes:
                for request in self._requests_by_serial.pop(serial, ()):
                    self._answers.pop(request, None)

    def responders(self) -> list[tuple[str, x509.Certificate]]:
        """(issuer name, responder certificate) of every issuer this responder answers for (readiness, metrics)."""
        contexts = {id(c): c for c in self._by_match_key.values()}.values()
        return sorted(((c.issuer.name, c.responder.certificate) for c in contexts), key=lambda item: item[0])

    # -- answering -----------------------------------------------------------------------------------
    def respond(self, *, body: bytes | None = None, get_path: str | None = None) -> Answer:
        """The one entry point (see the class docstring): a POST body, or the tail of a GET path after
        `/ocsp/` (RFC 5019 §5, RFC 6960 Appendix A.1), exactly one of them. Counted by status (ca.metrics)."""
        timed = next(self._sequence) % LATENCY_SAMPLE == 0
        start = time.perf_counter() if timed else 0.0
        answer = self._respond(body, get_path)
        count = self._count_of.get(answer.status)
        if count is not None:
            next(count)
        else:
            OCSP_RESPONSES.labels(answer.status).inc()
        if timed:
            OCSP_OBSERVE(time.perf_counter() - start)
        return answer

    def _respond(self, body: bytes | None, get_path: str | None) -> Answer:
        try:
            request_der = decode_get_path(get_path) if get_path is not None else (body or b"")
            return self._answer(request_der)
        except OCSPMalformed:
            return _failure("malformedRequest")
        except LedgerUnavailableError:
            return _failure("tryLater")
        except Exception:  # noqa: BLE001  (RFC 6960 §2.3: internalError, never an HTTP 500)
            log.exception("OCSP request failed; answered internalError")
            return _failure("internalError")

    def cached(self, request_der: bytes) -> Answer | None:
        """A remembered answer that is valid now and before half of its validity, or None: never an expired
        one, nor one signed "in the future" before the wall clock was stepped back (issue 10 item 6)."""
        entry = self._answers.get(request_der)
        if entry is not None and entry[1] <= self.runtime.clock.now().timestamp() < entry[2]:
            return entry[0]
        return None

    def _answer(self, request_der: bytes) -> Answer:
        """The hot path: a change-feed check at most every `poll_seconds`, one dictionary lookup and a
        comparison with the runtime's clock. While the ledger is unavailable, remembered answers that are
        still valid keep being served; the rest is tryLater."""
        try:
            self.poll()
        except LedgerUnavailableError:
            hit = self.cached(request_der)
            if hit is not None:
                return hit
            raise
        hit = self.cached(request_der)
        if hit is not None:
            return hit
        if not request_der:
            raise OCSPMalformed("empty request")
        return self._answer_uncached(request_der)

    def _answer_uncached(self, request_der: bytes) -> Answer:
        request = parse_request(request_der)
        contexts = {self._by_match_key.get(cid.issuer_match_key) for cid in request.cert_ids}
        if None in contexts or len(contexts) != 1:
            # Not one of our issuers, or several issuers in one request (one responder signs per response).
            return _failure("unauthorized")
        context = contexts.pop()
        assert context is not None
        cursor = self._cursor  # a change seen while we read the ledger means: do not remember this answer
        now = self.runtime.clock.now()
        self._renew_responder_if_due(context, now)
        serials = [format_serial(cid.serial_number) for cid in request.cert_ids]
        answer = None
        if request.nonce is None and len(serials) == 1:
            answer = self._stored(context, request.cert_ids[0].hash_name, serials[0], request.cert_id_ders[0], now)
        if answer is None:
            with self.runtime.sessionmaker() as session:
                statuses = [
                    _status_for(store.get_certificate_status(session, context.issuer.id, serial), cid_der)
                    for serial, cid_der in zip(serials, request.cert_id_ders, strict=True)
                ]
            answer = _sign(self.runtime, context, statuses, request.nonce, now)
        if answer.cacheable:
            self._remember(request_der, answer, serials, cursor)
        return answer

    def _renew_responder_if_due(self, context: _IssuerContext, now: datetime) -> None:
        """Pick up (or issue) a new responder certificate once the current one passed 2/3 of its life, so no
        fresh answer is ever signed by an expiring or expired responder."""
        cert = context.responder.certificate
        if renewal_due(cert.not_valid_before_utc, cert.not_valid_after_utc, now):
            context.responder = ensure_responder(self.runtime, context.issuer, SYSTEM)

    def _stored(self, context: _IssuerContext, hash_name: str, serial: str, request_cid: bytes,
                now: datetime) -> Answer | None:
        """A pre-signed answer from the ledger, if it is for this exact CertID and not past half-life."""
        if hash_name not in PRESIGNED_HASHES:
            return None
        if cert_id_der(context.issuer.certificate, int(serial, 16), hash_name) != request_cid:
            return None
        with self.runtime.sessionmaker() as session:
            stored = store.get_ocsp_response(session, context.issuer.id, serial, hash_name)
            if stored is None or needs_refresh(stored.this_update, stored.next_update, now):
                return None
            status = x509_ocsp.load_der_ocsp_response(stored.der).certificate_status.name.lower()
            return Answer(stored.der, stored.this_update, stored.next_update, cacheable=True, status=status)

    def _remember(self, request_der: bytes, answer: Answer, serials: list[str], cursor: int) -> None:
        """Cache until half of the answer's validity (RFC 5019 §2.2: refresh well before nextUpdate) — unless
        the change feed moved while the answer was being read, which may have been a revocation of it."""
        assert answer.this_update is not None and answer.next_update is not None
        deadline = half_life(answer.this_update, answer.next_update).timestamp()
        with self._lock:
            if self._cursor != cursor:
                return
            self._answers[request_der] = (answer, answer.this_update.timestamp(), deadline)
            for serial in serials:
                self._requests_by_serial.setdefault(serial, set()).add(request_der)

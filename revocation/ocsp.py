"""OCSP answers (RFC 6960; RFC 5019/9919 for the pre-signed, cacheable profile).

Responses without a nonce are pre-signed: stored in the ledger (shared by every responder process and by
`pkictl ocsp refresh`) and kept in memory keyed by the raw request bytes, so a repeated request costs one
dictionary lookup. A request with a nonce gets a freshly signed response echoing it (RFC 9654). Revocations
reach the responder through the audit trail used as a change feed, polled several times a second.
Every failure is an unsigned OCSP status, never an exception for the web layer (Boulder, django-ca bugs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ca.actor import SYSTEM, Actor
from ca.issuer import Issuer
from ca.ledger import store
from ca.runtime import Runtime
from ca.x509.ocsp import (
    OCSPMalformed,
    SingleStatus,
    build_response,
    cert_id_der,
    failure_response,
    issuer_match_keys,
    parse_request,
)
from ca.x509.reasons import REASON_CODES
from ca.x509.serials import format_serial
from revocation.responder import Responder, ensure_responder

PRESIGNED_HASHES = ("sha1", "sha256")


@dataclass(frozen=True)
class Answer:
    """An encoded OCSPResponse and, for successful cacheable ones, its validity (RFC 5019 §6.2 headers)."""

    der: bytes
    this_update: datetime | None = None
    next_update: datetime | None = None
    cacheable: bool = False


@dataclass(eq=False)
class _IssuerContext:
    issuer: Issuer
    responder: Responder


def _status_for(record: object | None, cert_id: bytes) -> SingleStatus:
    """Never `good` for a serial we did not issue (BR §4.9.9): unknown rows and unfinished ones are unknown."""
    if record is None or record.status not in ("issued", "revoked"):  # type: ignore[attr-defined]
        return SingleStatus(cert_id, "unknown")
    if record.status == "revoked":  # type: ignore[attr-defined]
        code = REASON_CODES.get(record.revocation_reason or "")  # type: ignore[attr-defined]
        return SingleStatus(cert_id, "revoked", record.revoked_at, code or None)  # type: ignore[attr-defined]
    return SingleStatus(cert_id, "good")


def _sign(runtime: Runtime, context: _IssuerContext, statuses: list[SingleStatus], nonce: bytes | None,
          now: datetime) -> Answer:
    next_update = now + timedelta(hours=runtime.settings.ocsp.validity_hours)
    der = build_response(responder_cert=context.responder.certificate, responder_key=context.responder.key,
                         statuses=statuses, this_update=now, next_update=next_update, produced_at=now, nonce=nonce)
    return Answer(der, now, next_update, cacheable=nonce is None)


def _presign(runtime: Runtime, context: _IssuerContext, serials: Iterable[str], now: datetime) -> int:
    """Sign SHA-1 and SHA-256 CertID answers for `serials` and store them in the ledger."""
    count = 0
    issuer = context.issuer
    with runtime.sessionmaker.begin() as session:
        for serial in serials:
            record = store.get_certificate_status(session, issuer.id, serial)
            for hash_name in PRESIGNED_HASHES:
                cid = cert_id_der(issuer.certificate, int(serial, 16), hash_name)
                answer = _sign(runtime, context, [_status_for(record, cid)], None, now)
                store.put_ocsp_response(session, issuer_id=issuer.id, serial=serial, hash_name=hash_name,
                                        der=answer.der, this_update=now, next_update=answer.next_update)  # type: ignore[arg-type]
                count += 1
    return count


def _contexts(runtime: Runtime, actor: Actor, issuer_name: str | None = None) -> list[_IssuerContext]:
    with runtime.sessionmaker() as session:
        records = [store.get_issuer_by_name(session, issuer_name)] if issuer_name else store.list_issuers(session)
    issuers = [runtime.issuer_from_record(r) for r in records if r.status != "removed"]
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
                if force or stored is None or now >= stored.this_update + (stored.next_update - stored.this_update) / 2:
                    stale.append(serial)
        total += _presign(runtime, context, stale, now)
    return total


def resign_serials(runtime: Runtime, changed: list[tuple[int, str]]) -> None:
    """Re-sign the stored answers of just-revoked certificates (called after the revocation commits)."""
    now = runtime.clock.now()
    by_issuer: dict[int, list[str]] = {}
    for issuer_id, serial in changed:
        by_issuer.setdefault(issuer_id, []).append(serial)
    for context in _contexts(runtime, SYSTEM):
        serials = by_issuer.get(context.issuer.id)
        if serials:
            _presign(runtime, context, serials, now)


class OCSPService:
    """The responder's state in one process: issuers by CertID hashes, answers by raw request bytes."""

    def __init__(self, runtime: Runtime, poll_seconds: float = 0.25) -> None:
        self.runtime = runtime
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._by_match_key: dict[tuple[str, bytes, bytes], _IssuerContext] = {}
        # raw request DER → (Answer, refresh deadline as a POSIX timestamp of the runtime clock)
        self._answers: dict[bytes, tuple[Answer, float]] = {}
        self._requests_by_serial: dict[str, set[bytes]] = {}
        self._cursor = 0
        self._last_poll = 0.0
        self.reload()

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

    def poll(self) -> None:
        """Apply revocations and new issuers committed by any process since the last look."""
        now = time.monotonic()
        if now - self._last_poll < self.poll_seconds:
            return
        self._last_poll = now
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

    # -- answering -----------------------------------------------------------------------------------
    def cached(self, request_der: bytes) -> Answer | None:
        """The hot path: a change-feed check at most every `poll_seconds`, one dictionary lookup and a
        comparison with the runtime's clock (never an answer past half of its validity, let alone expired)."""
        self.poll()
        entry = self._answers.get(request_der)
        if entry is not None and self.runtime.clock.now().timestamp() < entry[1]:
            return entry[0]
        return None

    def answer(self, request_der: bytes) -> Answer:
        try:
            hit = self.cached(request_der)
            if hit is not None:
                return hit
            return self._answer_uncached(request_der)
        except OCSPMalformed:
            return Answer(failure_response("malformedRequest"))
        except Exception:  # noqa: BLE001  (RFC 6960 §2.3: internalError, never an HTTP 500)
            return Answer(failure_response("internalError"))

    def _answer_uncached(self, request_der: bytes) -> Answer:
        request = parse_request(request_der)
        contexts = {self._by_match_key.get(cid.issuer_match_key) for cid in request.cert_ids}
        if None in contexts or len(contexts) != 1:
            # Not one of our issuers, or several issuers in one request (one responder signs per response).
            return Answer(failure_response("unauthorized"))
        context = contexts.pop()
        assert context is not None
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
            self._remember(request_der, answer, serials)
        return answer

    def _renew_responder_if_due(self, context: _IssuerContext, now: datetime) -> None:
        """Pick up (or issue) a new responder certificate once the current one passed 2/3 of its life, so no
        fresh answer is ever signed by an expiring or expired responder."""
        cert = context.responder.certificate
        if cert.not_valid_after_utc - now < (cert.not_valid_after_utc - cert.not_valid_before_utc) / 3:
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
            if stored is None:
                return None
            half = stored.this_update + (stored.next_update - stored.this_update) / 2
            if now >= half:
                return None
            return Answer(stored.der, stored.this_update, stored.next_update, cacheable=True)

    def _remember(self, request_der: bytes, answer: Answer, serials: list[str]) -> None:
        """Cache until half of the answer's validity (RFC 5019 §2.2: refresh well before nextUpdate)."""
        assert answer.this_update is not None and answer.next_update is not None
        half = answer.this_update + (answer.next_update - answer.this_update) / 2
        deadline = half.timestamp()
        with self._lock:
            self._answers[request_der] = (answer, deadline)
            for serial in serials:
                self._requests_by_serial.setdefault(serial, set()).add(request_der)

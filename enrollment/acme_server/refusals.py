"""Refused ACME requests (RFC 8555 §6.7 problem types): every refusal is counted, by type, in
`pki_acme_refusals_total{type}`; a refusal is also audited (`acme.request.refused`, with the problem type,
the account and its company) when its JWS verified against a registered account's key.

Why not audit them all: before the signature is checked, nobody is known — anyone can send garbage,
replay nonces or forge a `kid` at line rate, and one audit row each (hash-chained, serialised by a lock on
PostgreSQL) would let an unauthenticated flood fill and slow the audit trail. A verified request names an
account that an administrator's EAB created (RFC 8555 §7.3.4), so its refusals are bounded, attributable
and worth an operator's eye (rejectedIdentifier, unauthorized revocation, a badNonce it signed). The others
(badSignature, a forged kid, externalAccountRequired for a key without an account) are counted only: a
spike shows on /metrics without writing to the ledger.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from ca.errors import PKIError
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from enrollment.acme_server.accounts import Caller
from enrollment.acme_server.errors import PREFIX, AcmeError

log = logging.getLogger("portail.acme")
REFUSALS = Counter("pki_acme_refusals", "ACME requests refused, by problem type (RFC 8555 §6.7)", ["type"])
ACTION = "acme.request.refused"


def record_refusal(runtime: Runtime, error: AcmeError, caller: Caller | None, *, method: str, path: str) -> None:
    """Count the refusal; audit it when `caller` (or the error's verified caller) is a registered account.
    Server faults (5xx) are counted but not audited as refusals: they are not the caller's doing."""
    REFUSALS.labels(error.acme_type).inc()
    who = caller if caller is not None else error.verified_caller
    if error.status >= 500 or not isinstance(who, Caller) or who.account_id is None:
        return
    try:
        with runtime.sessionmaker.begin() as session:
            append_event(session, at=runtime.clock.now(), actor=f"acme:account/{who.account_id}", action=ACTION,
                         object_type="acme_account", object_id=str(who.account_id), company_id=who.company_id,
                         details={"type": PREFIX + error.acme_type, "status": error.status,
                                  "detail": error.detail[:500], "request": f"{method} {path}"},
                         source_ip=who.source_ip)
    except PKIError as failure:  # the ledger is down: the problem is still answered, and the outage logged
        log.error("could not audit the refused ACME request %s %s: %s", method, path, failure)

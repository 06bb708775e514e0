"""Revoking certificates (RFC 5280 §5.3.1 reasons; BR §4.9.1.1 deadlines are met by publishing at once).

The ledger is the truth, and no answer may contradict it (DESIGN §5). So the one transaction that marks a
certificate revoked also writes every consequence: the CRL marked dirty, the stored pre-signed OCSP answers
deleted (a stored `good` answer would otherwise be served to every client without a nonce — RFC 5019,
browsers, Windows — until its nextUpdate), and the audit event that responders read as their change feed
to drop their in-memory copies. keyCompromise also blocks the key's SPKI for future CSRs and revokes every
other live certificate of that key in the same transaction.

After the commit, the runtime's revocation listeners (the OCSP pre-signer, wired by the adapters) may sign
the new answers ahead of the first request. That is an optimisation: its failure is logged, and a
responder signs a fresh answer from the ledger when it finds no stored one.
"""

from __future__ import annotations

import logging

from ca.actor import Actor
from ca.certificates import CertificateView, get_visible_certificate, show_certificate
from ca.errors import BadRequestError
from ca.ledger import Session, store
from ca.ledger.audit import append_event
from ca.ledger.models import CertificateRecord
from ca.reasons import check_reason
from ca.runtime import RevokedSerial, Runtime
from ca.vocabulary import CertificateStatus
from ca.x509.serials import format_serial, parse_serial

log = logging.getLogger("portail.revoke")


def revoke_in_session(session: Session, runtime: Runtime, actor: Actor, record: CertificateRecord, reason: str,
                      cause: str | None = None) -> RevokedSerial:
    """Revoke one row inside the caller's transaction with every consequence (see the module docstring).
    After the commit, pass what it returns to `announce_revocations`."""
    now = runtime.clock.now()
    store.mark_certificate_revoked(session, record, at=now, reason=reason)
    store.delete_ocsp_responses(session, record.issuer_id, record.serial)
    store.mark_crl_dirty(session, record.issuer_id)
    details: dict[str, object] = {"reason": reason, "issuer_id": record.issuer_id}
    if cause:
        details["cause"] = cause
    append_event(session, at=now, actor=actor.name, action="certificate.revoked",
                 object_type="certificate", object_id=record.serial, company_id=record.company_id,
                 details=details, source_ip=actor.source_ip)
    return RevokedSerial(record.issuer_id, record.serial)


def revoke_certificate(
    runtime: Runtime, actor: Actor, *, serial: str, reason: str, issuer_name: str | None = None
) -> CertificateView:
    normalized = format_serial(parse_serial(serial))
    now = runtime.clock.now()
    revoked: list[RevokedSerial] = []
    with runtime.sessionmaker.begin() as session:
        issuer_id = store.get_issuer_by_name(session, issuer_name).id if issuer_name else None
        record = get_visible_certificate(session, actor, normalized, issuer_id=issuer_id)
        reason = check_reason(actor, reason)
        if record.status in (CertificateStatus.PENDING, CertificateStatus.FAILED):
            raise BadRequestError(f"certificate {normalized} was never issued (status {record.status})")
        revoked.append(revoke_in_session(session, runtime, actor, record, reason))
        if reason == "keyCompromise":
            store.add_blocked_key(session, spki_sha256=record.spki_sha256,
                                  reason=f"keyCompromise reported for {normalized}", at=now)
            for other in store.list_live_certificates_with_key(session, record.spki_sha256, now):
                revoked.append(revoke_in_session(session, runtime, actor, other, "keyCompromise",
                                                 cause=f"same key as {normalized}"))
    announce_revocations(runtime, revoked)
    return show_certificate(runtime, actor, normalized)


def announce_revocations(runtime: Runtime, revoked: list[RevokedSerial]) -> None:
    """After the commit: tell the runtime's listeners. A listener's failure is logged with its reason and
    changes nothing: the revocation is committed and the stored answers are already gone."""
    if not revoked:
        return
    for listener in runtime.revocation_listeners:
        try:
            listener(runtime, revoked)
        except Exception:  # noqa: BLE001  (committed; responders sign fresh answers from the ledger)
            log.exception("post-commit OCSP re-signing failed for %d revoked certificate(s) (%s); responders "
                          "will sign fresh answers from the ledger", len(revoked),
                          ", ".join(r.serial for r in revoked[:5]))

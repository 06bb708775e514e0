"""Supersession of a renewed certificate (issue 11): the predecessor is revoked `superseded` (RFC 5280
§5.3.1, reason code 4) at the successor's first front-office access, or at the grace deadline
(`lifecycle.renewal_grace_days` after the successor's issuance), whichever comes first — so a person is
never locked out between downloading the successor and installing it.

Both triggers live here because both the gate (enrollment.access) and the maintenance loop (revocation)
need them, and they may not import each other (DESIGN §2). Each revocation goes through
`ca.revoke.revoke_in_session`, with every consequence (CRL dirty, OCSP answers dropped, audit) in the
same transaction, plus a `certificate.superseded` event naming the successor.
"""

from __future__ import annotations

from datetime import timedelta

from ca.actor import SYSTEM, Actor
from ca.ledger import Session, renewal_store
from ca.ledger.audit import append_event
from ca.ledger.models import CertificateRecord
from ca.revoke import announce_revocations, revoke_in_session
from ca.runtime import RevokedSerial, Runtime

SUPERSEDED = "superseded"


def supersede_in_session(session: Session, runtime: Runtime, actor: Actor, successor: CertificateRecord,
                         trigger: str) -> RevokedSerial | None:
    """Revoke the successor's predecessor if it is still live; None when there is nothing to do."""
    predecessor = renewal_store.get_live_predecessor(session, successor)
    if predecessor is None:
        return None
    revoked = revoke_in_session(session, runtime, actor, predecessor, SUPERSEDED,
                                cause=f"renewed as {successor.serial}")
    append_event(session, at=runtime.clock.now(), actor=actor.name, action="certificate.superseded",
                 object_type="certificate", object_id=predecessor.serial, company_id=predecessor.company_id,
                 details={"successor": successor.serial, "trigger": trigger})
    return revoked


def supersede_at_first_use(runtime: Runtime, session: Session, certificate_id: int) -> RevokedSerial | None:
    """The gate saw the successor for the first time (inside the transaction that records its use)."""
    successor = renewal_store.get_certificate_by_id(session, certificate_id)
    if successor is None or successor.predecessor_id is None:
        return None
    return supersede_in_session(session, runtime, SYSTEM, successor, "first-access")


def supersede_past_grace(runtime: Runtime, actor: Actor = SYSTEM) -> list[str]:
    """Revoke every predecessor whose successor's grace deadline passed; the serials revoked."""
    now = runtime.clock.now()
    cutoff = now - timedelta(days=runtime.settings.lifecycle.renewal_grace_days)
    revoked: list[RevokedSerial] = []
    with runtime.sessionmaker.begin() as session:
        for successor, _predecessor in renewal_store.list_predecessors_past_grace(session, issued_before=cutoff):
            done = supersede_in_session(session, runtime, actor, successor, "grace-deadline")
            if done is not None:
                revoked.append(done)
    announce_revocations(runtime, revoked)
    return [r.serial for r in revoked]

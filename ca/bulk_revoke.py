"""Revoking many certificates at once (issue 14 §5: 100,000 unused certificates in ≤ 30 s).

Each batch is one transaction with every consequence `ca.revoke` writes for one certificate (RFC 5280
§5.3.1 reason, CRL marked dirty, stored OCSP answers deleted, one audit event per certificate), so a stop
between batches loses nothing: what was committed is revoked with all of it, the rest is untouched. The CRL
is only marked dirty: the repository's maintenance publishes it once, debounced
(`crl.publish_delay_seconds`), not once per certificate. Responders drop their in-memory answers from the
change feed (the audit events) within their poll interval and sign fresh ones from the ledger; the
pre-signer is told of the revocations only for a set small enough to sign at once (`PRESIGN_LIMIT`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ca.actor import Actor
from ca.ledger.bulk_revocation_store import revoke_rows
from ca.reasons import check_reason
from ca.revoke import announce_revocations
from ca.runtime import RevokedSerial, Runtime

BATCH_SIZE = 5000
PRESIGN_LIMIT = 1000  # above this, answers are signed on demand by the responders (an optimisation only)


def revoke_many(runtime: Runtime, actor: Actor, row_ids: Sequence[int], *, reason: str,
                cause: str | None = None, batch_size: int = BATCH_SIZE,
                progress: Callable[[int], None] | None = None) -> list[RevokedSerial]:
    """Revoke the rows of `row_ids` that are still issued, `batch_size` per transaction; returns what was
    revoked. The caller has already scoped `row_ids` to what the actor may revoke (ca.scope)."""
    reason = check_reason(actor, reason)
    revoked: list[RevokedSerial] = []
    for start in range(0, len(row_ids), batch_size):
        batch = row_ids[start:start + batch_size]
        now = runtime.clock.now()
        with runtime.sessionmaker.begin() as session:
            rows = revoke_rows(session, batch, at=now, reason=reason, actor=actor.name,
                               source_ip=actor.source_ip, cause=cause)
        revoked.extend(RevokedSerial(row.issuer_id, row.serial) for row in rows)
        if progress is not None:
            progress(len(batch))
    if len(revoked) <= PRESIGN_LIMIT:
        announce_revocations(runtime, revoked)
    return revoked

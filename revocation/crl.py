"""CRL publication per issuer: a full CRL and a delta CRL, numbered from one strictly increasing sequence.

The number is taken under a lock (PostgreSQL row lock / SQLite IMMEDIATE transaction) that is held until
the file is in place, and a file is only replaced by one with a higher number: two publishers can never
publish the same or a smaller number (Boulder #7590), whatever the clocks say. Files are written
atomically (temp file, fsync, rename), so a reader never sees a partial CRL.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from ca.actor import Actor
from ca.errors import ConflictError
from ca.files import write_chunks_atomically
from ca.issuer import Issuer
from ca.ledger import crl_entries, store
from ca.ledger.audit import append_event
from ca.metrics import CRL_PUBLISH_FAILURES
from ca.runtime import Runtime
from ca.vocabulary import IssuerStatus
from ca.x509 import repository_paths as paths
from ca.x509.crl import crl_number_at, encode_revoked_rows, signed_crl_chunks, tbs_crl_chunks
from ca.x509.der import signature_algorithm_der
from revocation.crl_schedule import CRLSchedule

log = logging.getLogger("portail.crl")


@dataclass(frozen=True)
class PublishedCRL:
    issuer: str
    kind: str  # full | delta
    crl_number: int
    this_update: datetime
    next_update: datetime
    path: Path
    entries: int


def crl_path(crl_dir: Path, issuer_name: str, kind: str) -> Path:
    return crl_dir / paths.crl_file_name(issuer_name, delta=kind != "full")


def delta_url(base_url: str, issuer_name: str) -> str:
    return paths.absolute(base_url, paths.crl(issuer_name, delta=True))


def _file_crl_number(path: Path) -> int:
    """The number of the CRL already published at `path` (0 when none or unreadable), read in place: a
    million-entry CRL is 50 MB, and only its header and extensions are needed."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        return crl_number_at(lambda offset, size: os.pread(descriptor, size, offset))
    finally:
        os.close(descriptor)


def _publish_one(runtime: Runtime, actor: Actor, issuer: Issuer, kind: str) -> PublishedCRL:
    settings = runtime.settings
    now = runtime.clock.now()
    next_update = now + timedelta(hours=settings.crl.validity_hours)
    path = crl_path(settings.repository.crl_dir, issuer.name, kind)
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    with runtime.sessionmaker.begin() as session:
        store.lock_issuer_crls(session, issuer.id)
        full_state = store.lock_crl_state(session, issuer.id, "full")
        number = max(store.highest_crl_number(session, issuer.id), _file_crl_number(path)) + 1
        if kind == "full":
            revoked, count = crl_entries.full_crl_entries(session, issuer.id)
            delta_base, freshest = None, delta_url(settings.repository.base_url, issuer.name)
        else:
            if full_state is None:
                raise ConflictError(f"issuer {issuer.name} has no full CRL yet: a delta CRL needs a base")
            revoked, count = encode_revoked_rows(store.iter_revoked_rows(session, issuer.id, full_state.this_update))
            delta_base, freshest = full_state.crl_number, None

        tbs = tbs_crl_chunks(
            issuer_name_der=issuer.certificate.subject.public_bytes(), issuer_key_id=ski,
            signature_algorithm_der=signature_algorithm_der(issuer.signer.key_type), this_update=now,
            next_update=next_update, crl_number=number, encoded_entries=revoked,
            delta_base_crl_number=delta_base, freshest_crl_url=freshest,
        )
        crl = signed_crl_chunks(tbs, issuer.signer)  # streamed: hashed and written chunk by chunk
        if _file_crl_number(path) >= number:
            raise ConflictError(f"a CRL numbered {number} or higher is already published for {issuer.name}")
        try:
            write_chunks_atomically(path, crl)
        except OSError as error:  # disk full, I/O error: the previous CRL stays in place, the number unused
            CRL_PUBLISH_FAILURES.labels(issuer.name).inc()
            log.error("could not write %s CRL #%d for %s to %s: %s", kind, number, issuer.name, path, error)
            raise
        store.save_crl_state(session, issuer_id=issuer.id, kind=kind, crl_number=number, this_update=now,
                             next_update=next_update)
        append_event(session, at=now, actor=actor.name, action=f"crl.published.{kind}", object_type="issuer",
                     object_id=issuer.name, details={"crl_number": number, "entries": count},
                     source_ip=actor.source_ip)
    return PublishedCRL(issuer=issuer.name, kind=kind, crl_number=number, this_update=now,
                        next_update=next_update, path=path, entries=count)


def publishing_issuers(runtime: Runtime, issuer_name: str | None = None) -> list[Issuer]:
    """Active and retired issuers publish; retired ones until their last certificate expires."""
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        records = [store.get_issuer_by_name(session, issuer_name)] if issuer_name else store.list_issuers(session)
        chosen = []
        for record in records:
            if record.status == IssuerStatus.REMOVED:
                continue
            if record.status == IssuerStatus.RETIRED and issuer_name is None:
                live, _last = store.count_live_certificates(session, record.id, now)
                if live == 0 and x509.load_der_x509_certificate(record.certificate_der).not_valid_after_utc < now:
                    continue
            chosen.append(record)
    return [runtime.issuer_from_record(r) for r in chosen]


def publish_crls(runtime: Runtime, actor: Actor, *, issuer_name: str | None = None) -> list[PublishedCRL]:
    """`pkictl crl publish`: a full CRL then its delta, for each publishing issuer."""
    published = []
    for issuer in publishing_issuers(runtime, issuer_name):
        published.append(_publish_one(runtime, actor, issuer, "full"))
        published.append(_publish_one(runtime, actor, issuer, "delta"))
    return published


def publish_due_crls(runtime: Runtime, actor: Actor, schedule: CRLSchedule | None = None) -> list[PublishedCRL]:
    """The scheduler's pass: republish what a revocation made dirty, what its schedule says is due (its
    refresh period on the monotonic clock, or no longer valid on the wall clock: revocation.crl_schedule),
    or what was never published. The maintenance loop keeps one `schedule` across its passes."""
    schedule = schedule or CRLSchedule(runtime.settings.crl)
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        states = {(s.issuer_id, s.kind): s for s in store.list_crl_states(session)}
    due = []
    for issuer in publishing_issuers(runtime):
        full = states.get((issuer.id, "full"))
        if full is None or full.dirty or schedule.due(issuer.id, full, now):
            due.append(issuer)
            continue
        delta = states.get((issuer.id, "delta"))
        if delta is None or delta.dirty:
            due.append(issuer)
    published = []
    for issuer in due:
        published.append(_publish_one(runtime, actor, issuer, "full"))
        published.append(_publish_one(runtime, actor, issuer, "delta"))
    return published

"""Unused certificates: found from the gate's `last_used_at`, revoked `cessationOfOperation`.

Administrators are asked to revoke the certificates nobody uses (the portal's confirmation page, the API,
`pkictl cert revoke-unused`); they are revoked in batches through `ca.bulk_revoke`, one transaction per
batch with every consequence (CRL marked dirty, OCSP answers dropped, one audit event per certificate), so a
stop loses nothing and 100,000 of them take seconds, with the CRL published once (issue 14 §5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from ca.actor import Actor
from ca.bulk_revoke import revoke_many
from ca.certificates import CertificateView, certificate_views
from ca.errors import BadRequestError
from ca.ledger import bulk_revocation_store, store
from ca.runtime import Runtime
from ca.scope import company_scope, own_company
from ca.x509.serials import format_serial, parse_serial

UNUSED_REASON = "cessationOfOperation"
MAX_DAYS = 3650


@dataclass
class UnusedReport:
    days: int
    candidates: list[CertificateView] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class UnusedOutcome:
    revoked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # confirmed, but used or revoked since the preview


def find_unused_certificates(
    runtime: Runtime, actor: Actor, *, days: int, company_eic: str | None = None
) -> list[CertificateView]:
    """Live browser certificates unused for `days` days (never used: issued more than `days` days ago)."""
    if not 1 <= days <= MAX_DAYS:
        raise BadRequestError(f"days must be 1 to {MAX_DAYS}")
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        company_id = company_scope(session, actor, company_eic,
                                   refusal="only administrators may look for unused certificates")
        records = store.list_unused_certificates(session, cutoff=now - timedelta(days=days), now=now,
                                                 company_id=company_id)
        return certificate_views(session, records, now)


def unused_row_ids(runtime: Runtime, actor: Actor, *, days: int,
                   company_eic: str | None = None) -> list[tuple[int, str]]:
    """(row id, serial) of what `find_unused_certificates` lists, without building views (bulk revocation)."""
    if not 1 <= days <= MAX_DAYS:
        raise BadRequestError(f"days must be 1 to {MAX_DAYS}")
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        company_id = company_scope(session, actor, company_eic,
                                   refusal="only administrators may look for unused certificates")
        return bulk_revocation_store.unused_row_ids(session, cutoff=now - timedelta(days=days), now=now,
                                                    company_id=company_id)


def revoke_unused_rows(runtime: Runtime, actor: Actor, rows: list[tuple[int, str]],
                       progress: Callable[[int], None] | None = None) -> list[str]:
    """Revoke the rows `unused_row_ids` found, in batches (ca.bulk_revoke; `pkictl cert revoke-unused`): the
    serials revoked (a row used or revoked meanwhile is left alone). `progress` gets each batch's size."""
    revoked = revoke_many(runtime, actor, [row_id for row_id, _serial in rows], reason=UNUSED_REASON,
                          progress=progress)
    return [r.serial for r in revoked]


def revoke_unused_certificates(
    runtime: Runtime, actor: Actor, *, days: int, company_eic: str | None = None, dry_run: bool = False,
    progress: Callable[[CertificateView], None] | None = None,
) -> UnusedReport:
    """The unused certificates as views, and — unless `dry_run` — revoked in batches (ca.bulk_revoke)."""
    report = UnusedReport(days=days, dry_run=dry_run)
    report.candidates = find_unused_certificates(runtime, actor, days=days, company_eic=company_eic)
    if not dry_run:
        ids = _row_ids(runtime, report.candidates)
        revoked = {r.serial for r in revoke_many(runtime, actor, ids, reason=UNUSED_REASON)}
        report.revoked = [view.serial for view in report.candidates if view.serial in revoked]
    if progress is not None:
        for view in report.candidates:
            progress(view)
    return report


def _row_ids(runtime: Runtime, views: list[CertificateView]) -> list[int]:
    """The ledger rows of views found for this actor (so already scoped to what it may revoke)."""
    with runtime.sessionmaker() as session:
        issuers = {record.name: record.id for record in store.list_issuers(session)}
        return bulk_revocation_store.row_ids_of(session, [(issuers[v.issuer], v.serial) for v in views])


def preview_unused(runtime: Runtime, actor: Actor, *, days: int) -> list[CertificateView]:
    """The administrator's confirmation page: what `revoke_confirmed_unused` would revoke."""
    own_company(actor)
    return find_unused_certificates(runtime, actor, days=days)


def revoke_confirmed_unused(runtime: Runtime, actor: Actor, *, days: int, serials: list[str]) -> UnusedOutcome:
    """Revoke exactly the confirmed certificates that are still unused now: a certificate used since the
    confirmation page was shown is skipped, never one that was not shown."""
    own_company(actor)
    confirmed = {format_serial(parse_serial(s)) for s in serials}
    if not confirmed:
        raise BadRequestError("no certificate was confirmed")
    still_unused = {v.serial: v for v in find_unused_certificates(runtime, actor, days=days)}
    shown = [still_unused[serial] for serial in sorted(confirmed) if serial in still_unused]
    revoked = {r.serial for r in revoke_many(runtime, actor, _row_ids(runtime, shown), reason=UNUSED_REASON)}
    outcome = UnusedOutcome()
    for serial in sorted(confirmed):
        (outcome.revoked if serial in revoked else outcome.skipped).append(serial)
    return outcome

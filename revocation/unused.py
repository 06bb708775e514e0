"""Unused certificates: found from the gate's `last_used_at`, revoked `cessationOfOperation`.

Administrators are asked to revoke the certificates nobody uses (the portal's confirmation page, the API,
`pkictl cert revoke-unused`); each revocation goes through `ca.revoke`, one transaction each, so a stop
loses nothing and every consequence (CRL, OCSP, audit) comes with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from ca.actor import Actor
from ca.certificates import CertificateView, certificate_views
from ca.errors import BadRequestError, ConflictError, NotFoundError
from ca.ledger import store
from ca.revoke import revoke_certificate
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


def revoke_unused_certificates(
    runtime: Runtime, actor: Actor, *, days: int, company_eic: str | None = None, dry_run: bool = False,
    progress: Callable[[CertificateView], None] | None = None,
) -> UnusedReport:
    """Revoke each unused certificate, one transaction each (`pkictl cert revoke-unused`)."""
    report = UnusedReport(days=days, dry_run=dry_run)
    report.candidates = find_unused_certificates(runtime, actor, days=days, company_eic=company_eic)
    for view in report.candidates:
        if not dry_run:
            revoke_certificate(runtime, actor, serial=view.serial, reason=UNUSED_REASON, issuer_name=view.issuer)
            report.revoked.append(view.serial)
        if progress is not None:
            progress(view)
    return report


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
    outcome = UnusedOutcome()
    for serial in sorted(confirmed):
        view = still_unused.get(serial)
        if view is None:
            outcome.skipped.append(serial)
            continue
        try:
            revoke_certificate(runtime, actor, serial=serial, reason=UNUSED_REASON, issuer_name=view.issuer)
            outcome.revoked.append(serial)
        except (ConflictError, NotFoundError):
            outcome.skipped.append(serial)
    return outcome

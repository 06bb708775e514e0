"""What a company administrator reads and does in bulk: the company's certificates with filters, revoking
the unused ones after a confirmation that shows exactly which, and the company's audit trail.
The operator's view of one company lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from ca.actor import Actor
from ca.errors import BadRequestError, ConflictError, NotAuthorizedError, NotFoundError
from ca.ledger import portal_store, store
from ca.ledger.audit import list_events
from ca.runtime import Runtime
from ca.x509.serials import format_serial, parse_serial
from enrollment.activation import member_view
from enrollment.downloads import certificate_views
from enrollment.portal_views import AuditEventView, CompanyOverview, ConnectionPointView
from enrollment.views import CertificateView
from revocation.revoke import find_unused_certificates, revoke_certificate

STATUSES = ("issued", "revoked", "expired")
MAX_DAYS = 3650


@dataclass(frozen=True)
class CertificateFilter:
    user_email: str | None = None
    status: str | None = None
    expiring_days: int | None = None  # live and expiring within this many days
    unused_days: int | None = None  # live and not used for this many days (never used: issued before)

    def check(self) -> CertificateFilter:
        if self.status is not None and self.status not in STATUSES:
            raise BadRequestError(f"unknown status {self.status!r}; choose one of {', '.join(STATUSES)}")
        for name in ("expiring_days", "unused_days"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_DAYS:
                raise BadRequestError(f"{name.replace('_', ' ')} must be 1 to {MAX_DAYS}")
        return self


def _admin_company(actor: Actor) -> int:
    if not actor.is_company_admin or actor.company_id is None:
        raise NotAuthorizedError("only a company administrator may do this")
    return actor.company_id


def list_company_certificates(runtime: Runtime, actor: Actor, filters: CertificateFilter | None = None
                              ) -> list[CertificateView]:
    """Newest first, browser certificates of the administrator's company only."""
    company_id = _admin_company(actor)
    filters = (filters or CertificateFilter()).check()
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        user_id = None
        if filters.user_email:
            user = portal_store.find_user_by_email(session, filters.user_email.strip())
            user_id = user.id if user else -1  # someone outside the ledger simply has no certificates
        status = "issued" if filters.expiring_days or filters.unused_days else filters.status
        records = store.list_certificates(session, company_id=company_id, user_id=user_id, status=status, now=now)
        records = [r for r in records if r.status in ("issued", "revoked")]
        if filters.expiring_days:
            records = [r for r in records if r.not_after <= now + timedelta(days=filters.expiring_days)]
        if filters.unused_days:
            cutoff = now - timedelta(days=filters.unused_days)
            records = [r for r in records if (r.last_used_at or r.not_before) < cutoff]
        records.reverse()
        return certificate_views(session, records, now)


@dataclass
class UnusedOutcome:
    revoked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # confirmed, but used or revoked since the preview


def preview_unused(runtime: Runtime, actor: Actor, *, days: int) -> list[CertificateView]:
    _admin_company(actor)
    return find_unused_certificates(runtime, actor, days=days)


def revoke_confirmed_unused(runtime: Runtime, actor: Actor, *, days: int, serials: list[str]) -> UnusedOutcome:
    """Revoke (cessationOfOperation) exactly the confirmed certificates that are still unused now: a
    certificate used since the confirmation page was shown is skipped, never one that was not shown."""
    _admin_company(actor)
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
            revoke_certificate(runtime, actor, serial=serial, reason="cessationOfOperation", issuer_name=view.issuer)
            outcome.revoked.append(serial)
        except (ConflictError, NotFoundError):
            outcome.skipped.append(serial)
    return outcome


def company_audit_trail(runtime: Runtime, actor: Actor, *, limit: int = 200,
                        company_eic: str | None = None) -> list[AuditEventView]:
    """Newest first: the events of the administrator's company (an operator names the company)."""
    if not 1 <= limit <= 1000:
        raise BadRequestError("limit must be 1 to 1000")
    with runtime.sessionmaker() as session:
        if actor.is_operator and company_eic:
            company_id = store.get_company_by_eic(session, company_eic.strip().upper()).id
        else:
            company_id = _admin_company(actor)
        return [AuditEventView.from_row(e) for e in list_events(session, company_id=company_id, limit=limit)]


def company_overview(runtime: Runtime, actor: Actor, *, company_eic: str) -> CompanyOverview:
    actor.require_operator()
    with runtime.sessionmaker() as session:
        company = store.get_company_by_eic(session, company_eic.strip().upper())
        users = portal_store.list_company_users(session, company.id)
        return CompanyOverview(
            eic=company.eic, name=company.name, approval_policy=company.approval_policy,
            administrators=[member_view(u, company.eic) for u in users if u.role in ("first-admin", "admin")],
            connection_points=[ConnectionPointView(id=p.id, code=p.code, label=p.label)
                               for p in portal_store.list_connection_points(session, company.id)],
            users=len(users),
        )

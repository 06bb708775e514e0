"""Reading the certificate ledger, scoped to what the actor may see."""

from __future__ import annotations

from datetime import datetime

from ca.actor import Actor
from ca.errors import BadRequestError, NotFoundError
from ca.ledger import store
from ca.ledger.models import CertificateRecord
from ca.runtime import Runtime
from ca.x509.serials import format_serial, parse_serial
from enrollment.views import CertificateView

STATUSES = ("pending", "issued", "revoked", "expired", "failed")


def certificate_view(record: CertificateRecord, *, issuer: str, user: str | None, company: str | None,
                     now: datetime) -> CertificateView:
    status = record.status
    if status == "issued" and record.not_after < now:
        status = "expired"
    return CertificateView(
        serial=record.serial, issuer=issuer, status=status, subject=record.subject,
        not_before=record.not_before, not_after=record.not_after, user=user, company=company,
        profile=record.profile, revoked_at=record.revoked_at, revocation_reason=record.revocation_reason,
        last_used_at=record.last_used_at, sha256=record.sha256, der=record.der,
    )


def _views(session: object, records: list[CertificateRecord], now: datetime) -> list[CertificateView]:
    issuers = {r.id: r.name for r in store.list_issuers(session)}  # type: ignore[arg-type]
    companies = {c.id: c.eic for c in store.list_companies(session)}  # type: ignore[arg-type]
    users = {u.id: u.email for u in store.list_users(session)}  # type: ignore[arg-type]
    return [
        certificate_view(r, issuer=issuers[r.issuer_id], user=users.get(r.user_id),
                         company=companies.get(r.company_id), now=now)
        for r in records
    ]


def list_certificates(
    runtime: Runtime, actor: Actor, *, company_eic: str | None = None, user_email: str | None = None,
    status: str | None = None,
) -> list[CertificateView]:
    if status is not None and status not in STATUSES:
        raise BadRequestError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        company_id = store.get_company_by_eic(session, company_eic.strip().upper()).id if company_eic else None
        user_id = store.get_user_by_email(session, user_email).id if user_email else None
        if not actor.is_operator:
            if company_id is not None and company_id != actor.company_id:
                raise NotFoundError(f"no company with EIC {company_eic}")
            company_id = actor.company_id
            if not actor.is_company_admin:
                user_id = actor.user_id
        records = store.list_certificates(session, company_id=company_id, user_id=user_id, status=status, now=now)
        return _views(session, records, now)


def get_visible_certificate(session: object, actor: Actor, serial: str, *, issuer_id: int | None = None,
                            signed: bool = False) -> CertificateRecord:
    """The row for SERIAL (any case, with or without colons) if the actor may see it; otherwise the same
    "not found" as for a serial that does not exist, so nothing leaks across companies."""
    normalized = format_serial(parse_serial(serial))
    try:
        record = store.get_certificate(session, normalized, issuer_id)  # type: ignore[arg-type]
    except NotFoundError:
        record = None
    if record is None or not actor.may_see_certificate(record.company_id, record.user_id) or (
            signed and record.der is None):
        raise NotFoundError(f"no certificate with serial {normalized}")
    return record


def show_certificate(runtime: Runtime, actor: Actor, serial: str) -> CertificateView:
    """SERIAL in any case, with or without colons (the interface contract of `pkictl cert show`)."""
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        return _views(session, [get_visible_certificate(session, actor, serial)], now)[0]

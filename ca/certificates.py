"""The certificate view and every read of the certificate ledger, scoped to what the actor may see.

One row → `CertificateView` rule (`certificate_views`), one visibility rule (`Actor.may_see_certificate`
through `get_visible_certificate`: anything else is the same "not found" as a serial that does not exist,
ASVS 8.2.2), one company-scope rule (`ca.scope.company_scope`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ca.actor import Actor
from ca.clock import iso_or_none
from ca.errors import BadRequestError, NotFoundError
from ca.ledger import Session, portal_store, renewal_store, store
from ca.ledger.list_store import map_company_eics
from ca.ledger.models import CertificateRecord
from ca.runtime import Runtime
from ca.scope import company_scope
from ca.vocabulary import CertificateStatus
from ca.x509.names import readable_dn
from ca.x509.serials import format_serial, parse_serial

STATUSES = tuple(CertificateStatus)
COMPANY_LIST_STATUSES = (CertificateStatus.ISSUED, CertificateStatus.REVOKED, CertificateStatus.EXPIRED)
MAX_FILTER_DAYS = 3650


@dataclass(frozen=True)
class CertificateView:
    serial: str
    issuer: str
    status: str
    subject: str
    not_before: datetime
    not_after: datetime
    user: str | None
    company: str | None
    profile: str
    revoked_at: datetime | None
    revocation_reason: str | None
    last_used_at: datetime | None
    sha256: str | None
    der: bytes | None
    predecessor: str | None = None  # a renewal's link (issue 11): the serial this one succeeds
    successor: str | None = None  # the serial of the certificate that renewed this one

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("der")
        for key in ("not_before", "not_after", "revoked_at", "last_used_at"):
            data[key] = iso_or_none(data[key])
        return data


def certificate_views(session: Session, records: Sequence[CertificateRecord], now: datetime) -> list[CertificateView]:
    """Views of `records` in their order; `expired` is shown for issued rows past notAfter."""
    issuers = {r.id: r.name for r in store.list_issuers(session)}
    companies = map_company_eics(session, (r.company_id for r in records if r.company_id is not None))
    users = portal_store.map_user_emails(session, (r.user_id for r in records if r.user_id is not None))
    predecessors = renewal_store.map_serials(session, (r.predecessor_id for r in records if r.predecessor_id))
    successors = renewal_store.map_successor_serials(session, (r.id for r in records))
    views = []
    for r in records:
        status = r.status
        if status == CertificateStatus.ISSUED and r.not_after < now:
            status = CertificateStatus.EXPIRED
        views.append(CertificateView(
            serial=r.serial, issuer=issuers[r.issuer_id], status=status, subject=readable_dn(r.subject),
            not_before=r.not_before, not_after=r.not_after,
            user=users.get(r.user_id) if r.user_id is not None else None,
            company=companies.get(r.company_id) if r.company_id is not None else None,
            profile=r.profile, revoked_at=r.revoked_at, revocation_reason=r.revocation_reason,
            last_used_at=r.last_used_at, sha256=r.sha256, der=r.der,
            predecessor=predecessors.get(r.predecessor_id) if r.predecessor_id else None,
            successor=successors.get(r.id),
        ))
    return views


def get_visible_certificate(session: Session, actor: Actor, serial: str, *, issuer_id: int | None = None,
                            signed: bool = False) -> CertificateRecord:
    """The row for SERIAL (any case, with or without colons) if the actor may see it; otherwise the same
    "not found" as for a serial that does not exist, so nothing leaks across companies."""
    normalized = format_serial(parse_serial(serial))
    try:
        record: CertificateRecord | None = store.get_certificate(session, normalized, issuer_id)
    except NotFoundError:
        record = None
    if record is None or not actor.may_see_certificate(record.company_id, record.user_id) or (
            signed and record.der is None):
        raise NotFoundError(f"no certificate with serial {normalized}")
    return record


def show_certificate(runtime: Runtime, actor: Actor, serial: str, *, signed: bool = False) -> CertificateView:
    """SERIAL in any case, with or without colons (the interface contract of `pkictl cert show`)."""
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        return certificate_views(session, [get_visible_certificate(session, actor, serial, signed=signed)], now)[0]


def list_certificates(
    runtime: Runtime, actor: Actor, *, company_eic: str | None = None, user_email: str | None = None,
    status: str | None = None,
) -> list[CertificateView]:
    """`pkictl cert list` and the operator's views: company people see their company's (users their own)."""
    if status is not None and status not in STATUSES:
        raise BadRequestError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        company_id = company_scope(session, actor, company_eic, admins_only=False, refusal="you belong to no company")
        user_id = store.get_user_by_email(session, user_email).id if user_email else None
        if not actor.is_operator and not actor.is_company_admin:
            user_id = actor.user_id
        records = store.list_certificates(session, company_id=company_id, user_id=user_id, status=status, now=now)
        return certificate_views(session, records, now)


@dataclass(frozen=True)
class CertificateFilter:
    """The company administrator's certificate list filters (portal page, CSV export and API)."""

    user_email: str | None = None
    status: str | None = None
    expiring_days: int | None = None  # live and expiring within this many days
    unused_days: int | None = None  # live and not used for this many days (never used: issued before)

    def check(self) -> CertificateFilter:
        if self.status is not None and self.status not in COMPANY_LIST_STATUSES:
            raise BadRequestError(f"unknown status {self.status!r}; choose one of {', '.join(COMPANY_LIST_STATUSES)}")
        for name in ("expiring_days", "unused_days"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_FILTER_DAYS:
                raise BadRequestError(f"{name.replace('_', ' ')} must be 1 to {MAX_FILTER_DAYS}")
        return self

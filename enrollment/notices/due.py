"""Which notices are due at a given instant: a pure function of the ledger's facts and "now" (issue 11).

Every notice has a `key` that names it once and for all (kind, certificate or recipient, threshold or
week); the ledger's unique key makes each one sent at most once (ca.ledger.notice_store).

- expiry: to the holder when `now` reaches notAfter minus a threshold of `lifecycle.expiry_warning_days`;
  only the smallest threshold reached is due (a first run 6 days before notAfter sends the 7-day warning,
  not the 30-day one too). A renewed certificate (with a live successor) gets none.
- escalation: at `lifecycle.escalation_days` before notAfter with no successor, to each active
  administrator of the certificate's company (not the holder: they get the expiry warning).
- digest: once per ISO week, from `lifecycle.digest_weekday` on, to each active company administrator
  with something to report: certificates expiring within `digest_expiring_days` (not renewed) and
  certificates unused for `digest_unused_days`.
- revoked: to the holder of a certificate revoked in the last `RECENT` days — except superseded by a
  renewal (they asked for it) and those revoked by a detachment (the detachment notice lists them).
- detached: to a person detached from a company in the last `RECENT` days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ca.settings import LifecycleSettings

RECENT = timedelta(days=7)


@dataclass(frozen=True)
class CertFact:
    id: int
    serial: str
    user_id: int
    company_id: int
    not_before: datetime
    not_after: datetime
    last_used_at: datetime | None
    renewed: bool  # has a live successor


@dataclass(frozen=True)
class PersonFact:
    id: int
    email: str
    full_name: str
    company_id: int | None
    active: bool
    admin: bool
    locale: str | None = None  # the saved language of the e-mails (issue 15 item 1), else the site's


@dataclass(frozen=True)
class RevokedFact:
    id: int
    serial: str
    user_id: int
    company_id: int | None
    revoked_at: datetime
    reason: str | None


@dataclass(frozen=True)
class DetachedFact:
    event_id: int
    email: str
    company_id: int | None
    at: datetime
    revoked: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    live: tuple[CertFact, ...]  # live browser certificates with a holder in a company
    people: dict[int, PersonFact]
    company_names: dict[int, str]
    revoked: tuple[RevokedFact, ...] = ()
    detached: tuple[DetachedFact, ...] = ()


@dataclass(frozen=True)
class DueNotice:
    key: str
    kind: str
    recipient: PersonFact
    company_id: int | None
    certificate: CertFact | None = None
    threshold: int | None = None
    expiring: tuple[CertFact, ...] = field(default=())
    unused: tuple[CertFact, ...] = field(default=())
    revoked: RevokedFact | None = None
    detached: DetachedFact | None = None


def horizon(settings: LifecycleSettings) -> timedelta:
    """How far ahead of `now` the facts must reach."""
    return timedelta(days=max(*settings.warning_days, settings.escalation_days, settings.digest_expiring_days, 1))


def _reached(cert: CertFact, days: int, now: datetime) -> bool:
    return now >= cert.not_after - timedelta(days=days)


def _holder(facts: Facts, cert: CertFact) -> PersonFact | None:
    person = facts.people.get(cert.user_id)
    if person is None or not person.active or person.company_id != cert.company_id:
        return None
    return person


def _admins(facts: Facts, company_id: int) -> list[PersonFact]:
    return sorted((p for p in facts.people.values() if p.admin and p.active and p.company_id == company_id),
                  key=lambda p: p.id)


def expiry_notices(facts: Facts, now: datetime, settings: LifecycleSettings) -> list[DueNotice]:
    due: list[DueNotice] = []
    for cert in facts.live:
        if cert.renewed or cert.not_after < now:
            continue
        holder = _holder(facts, cert)
        reached = [days for days in settings.warning_days if _reached(cert, days, now)]
        if holder is not None and reached:
            threshold = min(reached)
            due.append(DueNotice(key=f"expiry/{cert.id}/{threshold}", kind="expiry", recipient=holder,
                                 company_id=cert.company_id, certificate=cert, threshold=threshold))
        if _reached(cert, settings.escalation_days, now):
            for admin in _admins(facts, cert.company_id):
                if admin.id != cert.user_id:
                    due.append(DueNotice(key=f"escalation/{cert.id}/{admin.id}", kind="escalation",
                                         recipient=admin, company_id=cert.company_id, certificate=cert,
                                         threshold=settings.escalation_days))
    return due


def digest_notices(facts: Facts, now: datetime, settings: LifecycleSettings) -> list[DueNotice]:
    year, week, weekday = now.isocalendar()
    if weekday < settings.digest_weekday:
        return []
    expiring_by = now + timedelta(days=settings.digest_expiring_days)
    unused_since = now - timedelta(days=settings.digest_unused_days)
    due: list[DueNotice] = []
    for company_id in sorted({c.company_id for c in facts.live} | set(facts.company_names)):
        certs = [c for c in facts.live if c.company_id == company_id and c.not_after >= now]
        expiring = tuple(c for c in certs if c.not_after <= expiring_by and not c.renewed)
        unused = tuple(c for c in certs if (c.last_used_at or c.not_before) < unused_since)
        if not expiring and not unused:
            continue
        for admin in _admins(facts, company_id):
            due.append(DueNotice(key=f"digest/{admin.id}/{year}-W{week:02d}", kind="digest", recipient=admin,
                                 company_id=company_id, expiring=expiring, unused=unused))
    return due


def event_notices(facts: Facts, now: datetime) -> list[DueNotice]:
    due: list[DueNotice] = []
    by_email = {p.email: p for p in facts.people.values()}
    listed = {serial for d in facts.detached for serial in d.revoked}
    for detached in facts.detached:
        person = by_email.get(detached.email)
        if person is not None and now - RECENT <= detached.at <= now:
            due.append(DueNotice(key=f"detached/{detached.event_id}", kind="detached", recipient=person,
                                 company_id=detached.company_id, detached=detached))
    for revoked in facts.revoked:
        person = facts.people.get(revoked.user_id)
        if (person is None or revoked.reason == "superseded" or revoked.serial in listed
                or not now - RECENT <= revoked.revoked_at <= now):
            continue
        due.append(DueNotice(key=f"revoked/{revoked.id}", kind="revoked", recipient=person,
                             company_id=revoked.company_id, revoked=revoked))
    return due


def due_notices(facts: Facts, now: datetime, settings: LifecycleSettings) -> list[DueNotice]:
    """Every notice due at `now`, in a stable order (holders first, then administrators)."""
    return expiry_notices(facts, now, settings) + event_notices(facts, now) + digest_notices(facts, now, settings)

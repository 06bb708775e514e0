"""The ledger's facts the notice computation needs, read in one session (enrollment.notices.due is pure)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from ca.ledger import Session, notice_store, renewal_store, store
from ca.ledger.models import CertificateRecord
from ca.settings import LifecycleSettings
from ca.vocabulary import ADMIN_ROLES, UserStatus
from enrollment.notices.due import RECENT, CertFact, DetachedFact, Facts, PersonFact, RevokedFact, horizon


def _cert_fact(record: CertificateRecord, renewed: set[int]) -> CertFact:
    assert record.user_id is not None and record.company_id is not None
    return CertFact(id=record.id, serial=record.serial, user_id=record.user_id, company_id=record.company_id,
                    not_before=record.not_before, not_after=record.not_after, last_used_at=record.last_used_at,
                    renewed=record.id in renewed)


def _detached(session: Session, now: datetime) -> list[DetachedFact]:
    facts = []
    for event in notice_store.list_events(session, action="user.detached", since=now - RECENT):
        try:
            revoked = tuple(str(s) for s in json.loads(event.details).get("revoked", []))
        except (ValueError, AttributeError):
            revoked = ()
        facts.append(DetachedFact(event_id=event.id, email=event.object_id, company_id=event.company_id,
                                  at=event.at, revoked=revoked))
    return facts


def load_facts(session: Session, now: datetime, settings: LifecycleSettings) -> Facts:
    records = {r.id: r for r in notice_store.list_live_browser_certificates(session, now=now,
                                                                            until=now + horizon(settings))}
    unused_cutoff = now - timedelta(days=settings.digest_unused_days)
    for record in store.list_unused_certificates(session, cutoff=unused_cutoff, now=now):
        if record.user_id is not None and record.company_id is not None:
            records.setdefault(record.id, record)
    renewed = renewal_store.renewed_ids(session, records, now)
    revoked = [RevokedFact(id=r.id, serial=r.serial, user_id=r.user_id, company_id=r.company_id,
                           revoked_at=r.revoked_at, reason=r.revocation_reason)
               for r in notice_store.list_recently_revoked(session, since=now - RECENT)
               if r.user_id is not None and r.revoked_at is not None]
    detached = _detached(session, now)
    user_ids = {r.user_id for r in records.values() if r.user_id is not None} | {r.user_id for r in revoked}
    companies = {c.id: c.name for c in store.list_companies(session)}
    people: dict[int, PersonFact] = {}
    users = list(notice_store.map_users(session, user_ids).values())
    for company_id in {r.company_id for r in records.values() if r.company_id is not None}:
        users.extend(u for u in store.list_users(session, company_id) if u.role in ADMIN_ROLES)
    for fact in detached:
        person = notice_store.find_user_by_email(session, fact.email)
        if person is not None:
            users.append(person)
    for user in users:
        people[user.id] = PersonFact(id=user.id, email=user.email, full_name=user.full_name,
                                     company_id=user.company_id, active=user.status == UserStatus.ACTIVE,
                                     admin=user.role in ADMIN_ROLES, locale=user.locale)
    return Facts(live=tuple(_cert_fact(r, renewed) for r in sorted(records.values(), key=lambda r: r.id)),
                 people=people, company_names=companies, revoked=tuple(revoked), detached=tuple(detached))

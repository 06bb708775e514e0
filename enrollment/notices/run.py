"""Computing, recording and sending the notices (issue 11): `pkictl notify run` and the maintenance loop.

Insert-then-send: the due notices are inserted in one transaction with the batch's audit event; the
unique key of each (ca.ledger.notice_models) makes an insert by a second worker or a second run a no-op,
and only the notices this run inserted are sent by it. A failed send is recorded and retried later by
whichever process delivers (`deliver_pending`), one at a time through a conditional claim; a failure never
stops the other messages. `as_of` moves "now" for the computation only (previews, tests); the ledger's own
times (created, sent, retry) are the clock's.
"""

from __future__ import annotations

import logging
import smtplib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ca.actor import Actor
from ca.ledger import notice_store
from ca.ledger.audit import append_event
from ca.ledger.notice_models import Notice
from ca.runtime import Runtime
from ca.settings import PortalSettings
from enrollment.mail import deliver_message
from enrollment.notices.due import DueNotice, due_notices, event_notices
from enrollment.notices.facts import load_facts
from enrollment.notices.render import render
from enrollment.words import recipient_words

log = logging.getLogger("portail.notices")
CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class NoticeLine:
    recipient: str
    kind: str
    serial: str | None
    key: str


@dataclass
class NoticeReport:
    as_of: datetime
    dry_run: bool
    lines: list[NoticeLine] = field(default_factory=list)
    sent: int = 0
    failed: int = 0


def _line(notice: DueNotice) -> NoticeLine:
    serial = (notice.certificate.serial if notice.certificate else notice.revoked.serial if notice.revoked
              else None)
    return NoticeLine(recipient=notice.recipient.email, kind=notice.kind, serial=serial, key=notice.key)


def run_notices(runtime: Runtime, actor: Actor, *, as_of: datetime | None = None, dry_run: bool = False,
                events_only: bool = False) -> NoticeReport:
    """Every notice due at `as_of` (default: now) not sent before: printed (dry run) or recorded and sent.
    `events_only`: just the revocation and detachment notices (the maintenance loop's frequent pass)."""
    actor.require_operator()
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    lifecycle = runtime.settings.lifecycle
    now = as_of or runtime.clock.now()
    report = NoticeReport(as_of=now, dry_run=dry_run)
    with runtime.sessionmaker() as session:
        facts = load_facts(session, now, lifecycle)
        due = event_notices(facts, now) if events_only else due_notices(facts, now, lifecycle)
        existing = notice_store.existing_notice_keys(session, (d.key for d in due))
    fresh = [d for d in due if d.key not in existing]
    if dry_run:
        report.lines = [_line(d) for d in fresh]
        return report
    holders = {p.id: p.full_name for p in facts.people.values()}
    mine: list[int] = []
    clock_now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        for notice in fresh:
            words = render(notice, now, runtime.settings.portal.base_url, facts.company_names, holders, lifecycle,
                           recipient_words(notice.recipient.locale, runtime.settings.portal.default_locale))
            notice_id = notice_store.add_notice(session, {
                "key": notice.key, "kind": notice.kind, "threshold": notice.threshold,
                "certificate_id": (notice.certificate.id if notice.certificate
                                   else notice.revoked.id if notice.revoked else None),
                "user_id": notice.recipient.id, "company_id": notice.company_id, "email": notice.recipient.email,
                "subject": words.subject, "text_body": words.text, "html_body": words.html,
                "created_at": clock_now, "attempts": 0, "next_attempt_at": clock_now,
                "claimed_until": clock_now + CLAIM,
            })
            if notice_id is not None:  # None: another worker recorded it first, and sends it
                mine.append(notice_id)
                report.lines.append(_line(notice))
        if mine:
            append_event(session, at=clock_now, actor=actor.name, action="notices.recorded", object_type="notices",
                         object_id=now.isoformat(timespec="seconds"),
                         details={"as_of": now.isoformat(), "count": len(mine),
                                  "kinds": dict(Counter(line.kind for line in report.lines)),
                                  "keys": [line.key for line in report.lines][:100]})
    for notice_id in mine:
        if _send(runtime, notice_id, claimed=True):
            report.sent += 1
        else:
            report.failed += 1
    return report


def _message(settings: PortalSettings, notice: Notice) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = notice.email
    message["Subject"] = notice.subject
    message["Date"] = format_datetime(notice.created_at)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834
    message["X-Portail-Notice"] = notice.key
    message.set_content(notice.text_body)
    message.add_alternative(notice.html_body, subtype="html")
    return message


def _send(runtime: Runtime, notice_id: int, *, claimed: bool) -> bool:
    """Send one notice this process holds (or claims now); record the outcome. Never raises for mail."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        if claimed:
            notice = session.get(Notice, notice_id)
        else:
            notice = notice_store.claim_notice(session, notice_id, now=now, until=now + CLAIM)
        if notice is None or notice.sent_at is not None:
            return False
        message = _message(runtime.settings.portal, notice)
        key = notice.key
    try:
        deliver_message(runtime.settings.portal, message)
    except (OSError, smtplib.SMTPException) as exc:
        retry_at = runtime.clock.now() + timedelta(minutes=runtime.settings.lifecycle.notice_retry_minutes)
        log.warning("notice %s to %s not sent, retried after %s: %s", key, message["To"], retry_at, exc)
        with runtime.sessionmaker.begin() as session:
            notice_store.mark_notice_failed(session, notice_id, error=str(exc) or type(exc).__name__,
                                            retry_at=retry_at)
        return False
    with runtime.sessionmaker.begin() as session:
        notice_store.mark_notice_sent(session, notice_id, runtime.clock.now())
    return True


def deliver_pending(runtime: Runtime) -> tuple[int, int]:
    """Retry the notices whose send failed or whose sender stopped: (sent, failed)."""
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        ids = notice_store.list_deliverable_ids(session, now=now,
                                                max_attempts=runtime.settings.lifecycle.notice_max_attempts)
    sent = failed = 0
    for notice_id in ids:
        if _send(runtime, notice_id, claimed=False):
            sent += 1
        else:
            failed += 1
    return sent, failed

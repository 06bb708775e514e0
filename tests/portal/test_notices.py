"""Expiry warnings, escalation, weekly digest, revocation and detachment notices (issue 11 §1), walked with
a FixedClock: each due once, recorded in the ledger (insert-then-send), multipart text + HTML, retried
after a failed send; two workers at once send each message once; `pkictl notify run --as-of`."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

from ca.actor import SYSTEM
from ca.issuance import issue_certificate
from ca.ledger import notice_store
from ca.revoke import revoke_certificate
from enrollment.accounts.members import detach_user
from enrollment.notices.job import LifecycleJob
from enrollment.notices.run import deliver_pending, run_notices
from enrollment.requests.renewal import renew_with_csr
from tests.vectors.bad_csrs import good_csr


def issue_for(runtime, world, name: str = "carol"):
    _key, csr = good_csr("ec-p256")
    return issue_certificate(runtime, world.actor(name), csr_data=csr, user_email=world.emails[name])


def lines(report) -> set[tuple[str, str, str | None]]:
    return {(line.recipient, line.kind, line.serial) for line in report.lines}


def outbox(runtime) -> list:
    directory = runtime.settings.portal.outbox_dir
    if not directory.exists():
        return []
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(directory.glob("*.eml"))]


def without_digests(report) -> set[tuple[str, str, str | None]]:
    return {line for line in lines(report) if line[1] != "digest"}


def test_expiry_warnings_escalation_once_each(runtime, world):
    issued = issue_for(runtime, world)
    not_after = issued.certificate.not_valid_after_utc
    carol, alice, bob = (world.emails[n] for n in ("carol", "alice", "bob"))
    serial = issued.serial

    assert without_digests(run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=31))) == set()
    first = run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=30))
    assert without_digests(first) == {(carol, "expiry", serial)} and first.sent == len(first.lines)
    assert run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=29)).lines == []  # the same week
    week = run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=7))
    assert without_digests(week) == {(carol, "expiry", serial), (alice, "escalation", serial),
                                     (bob, "escalation", serial)}
    assert without_digests(run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=6))) == set()
    assert without_digests(run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=1))) == {
        (carol, "expiry", serial)}
    assert run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=1)).lines == []
    with runtime.sessionmaker() as session:
        keys = {n.key for n in notice_store.list_notices(session) if n.certificate_id is not None}
        assert all(n.sent_at is not None for n in notice_store.list_notices(session))
    cert_id = next(k for k in keys if k.startswith("expiry/")).split("/")[1]
    assert {f"expiry/{cert_id}/30", f"expiry/{cert_id}/7", f"expiry/{cert_id}/1"} <= keys

    # Multipart text + HTML with links to the portal, in the outbox.
    mails = [m for m in outbox(runtime) if m["To"] == carol]
    assert sorted(m["Subject"] for m in mails) == ["Your certificate expires in 1 day",
                                                   "Your certificate expires in 30 days",
                                                   "Your certificate expires in 7 days"]
    message = next(m for m in mails if "30 days" in m["Subject"])
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    renew_url = f"{runtime.settings.portal.base_url}/certificates/{serial}/renew"
    assert renew_url in text and f'href="{renew_url}"' in html
    escalations = [m for m in outbox(runtime) if m["To"] == alice and "not renewed" in m["Subject"]]
    assert len(escalations) == 1 and "Carol Petit" in escalations[0].get_body(("plain",)).get_content()


def test_first_run_sends_only_the_most_urgent_and_renewal_stops_warnings(runtime, world, clock):
    old = issue_for(runtime, world)
    not_after = old.certificate.not_valid_after_utc
    report = run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=6), dry_run=True)
    assert (world.emails["carol"], "expiry", old.serial) in lines(report)
    assert run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=6), dry_run=True).lines == report.lines
    with runtime.sessionmaker() as session:
        assert notice_store.list_notices(session) == []  # a dry run records nothing
    clock.set(not_after - timedelta(days=10))
    renew_with_csr(runtime, world.actor("carol"), serial=old.serial, csr_data=good_csr("ec-p256")[1])
    after = run_notices(runtime, SYSTEM, as_of=not_after - timedelta(days=6))
    assert not {line for line in lines(after) if line[2] == old.serial and line[1] != "digest"}


def test_weekly_digest_once_per_week(runtime, world):
    issued = issue_for(runtime, world)
    not_after = issued.certificate.not_valid_after_utc
    at = not_after - timedelta(days=20)
    at -= timedelta(days=at.isoweekday() - 1)  # a Monday (lifecycle.digest_weekday = 1)
    report = run_notices(runtime, SYSTEM, as_of=at)
    digests = {line[0] for line in lines(report) if line[1] == "digest"}
    assert digests == {world.emails["alice"], world.emails["bob"]}  # company A's administrators only
    assert not [line for line in lines(run_notices(runtime, SYSTEM, as_of=at + timedelta(days=3)))
                if line[1] == "digest"]
    next_week = run_notices(runtime, SYSTEM, as_of=at + timedelta(days=7))
    assert {line[0] for line in lines(next_week) if line[1] == "digest"} == digests
    texts = [m.get_body(("plain",)).get_content() for m in outbox(runtime)
             if m["To"] == world.emails["alice"] and "digest" in m["Subject"]]
    base = runtime.settings.portal.base_url
    # Expiring, and unused for 90 days (never used since its issuance a year ago) with the revoke link.
    assert len(texts) == 2 and all(issued.serial[:16] in t and f"{base}/admin/unused?days=90" in t for t in texts)
    this_week, next_week_words = (f"expires in {(not_after - at).days - k} days" for k in (0, 7))
    assert sum(this_week in t for t in texts) == 1 and sum(next_week_words in t for t in texts) == 1


def test_revoked_and_detached_notices(runtime, world):
    mine = issue_for(runtime, world)
    daves = issue_for(runtime, world, "dave")
    revoke_certificate(runtime, world.actor("carol"), serial=mine.serial, reason="keyCompromise")
    detach_user(runtime, world.actor("alice"), user_id=world.id("dave"))
    report = run_notices(runtime, SYSTEM, events_only=True)
    assert lines(report) == {(world.emails["carol"], "revoked", mine.serial),
                             (world.emails["dave"], "detached", None)}
    assert run_notices(runtime, SYSTEM, events_only=True).lines == []
    detached = next(m for m in outbox(runtime) if m["To"] == world.emails["dave"])
    assert daves.serial[:16] in detached.get_body(("plain",)).get_content()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failed_send_is_retried_and_blocks_nothing(runtime, world, clock):
    first = issue_for(runtime, world)
    second = issue_for(runtime, world, "dave")
    portal = runtime.settings.portal
    runtime.settings = dataclasses.replace(runtime.settings, portal=dataclasses.replace(
        portal, smtp_host="127.0.0.1", smtp_port=_closed_port()))
    as_of = first.certificate.not_valid_after_utc - timedelta(days=7)
    report = run_notices(runtime, SYSTEM, as_of=as_of)
    assert report.sent == 0 and report.failed == len(report.lines) >= 4  # every message tried, none sent
    with runtime.sessionmaker() as session:
        notices = notice_store.list_notices(session)
        assert all(n.sent_at is None and n.attempts == 1 and n.last_error for n in notices)
    runtime.settings = dataclasses.replace(runtime.settings, portal=portal)  # the mail server is back
    assert deliver_pending(runtime) == (0, 0)  # not before the retry time
    clock.advance(timedelta(minutes=runtime.settings.lifecycle.notice_retry_minutes))
    assert deliver_pending(runtime) == (len(report.lines), 0)
    assert run_notices(runtime, SYSTEM, as_of=as_of).lines == []
    assert {m["To"] for m in outbox(runtime)} >= {world.emails["carol"], world.emails["dave"]}
    assert second.serial


def test_two_workers_at_once_send_each_message_once(runtime, world):
    issued = issue_for(runtime, world)
    as_of = issued.certificate.not_valid_after_utc - timedelta(days=7)
    expected = lines(run_notices(runtime, SYSTEM, as_of=as_of, dry_run=True))
    barrier = threading.Barrier(4)
    reports = []

    def worker() -> None:
        barrier.wait()
        reports.append(run_notices(runtime, SYSTEM, as_of=as_of))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = [line for report in reports for line in lines(report)]
    assert sorted(sent) == sorted(expected) and len(outbox(runtime)) == len(expected)


def test_maintenance_job_sends_daily_and_revokes_past_grace(runtime, world, clock):
    old = issue_for(runtime, world)
    renew_with_csr(runtime, world.actor("carol"), serial=old.serial, csr_data=good_csr("ec-p256")[1])
    job = LifecycleJob()
    clock.advance(timedelta(days=runtime.settings.lifecycle.renewal_grace_days, hours=1))
    job(runtime)
    from ca.ledger import store

    with runtime.sessionmaker() as session:
        assert store.get_certificate(session, old.serial).revocation_reason == "superseded"


def test_maintenance_job_computes_once_a_day_from_the_configured_hour(runtime, world, clock):
    issued = issue_for(runtime, world)
    hour = runtime.settings.lifecycle.notice_hour
    day = issued.certificate.not_valid_after_utc.replace(hour=0, minute=0, second=0, microsecond=0)
    clock.set(day - timedelta(days=6) + timedelta(hours=hour - 1))  # past the 7-day mark, before the hour
    job = LifecycleJob()
    revoke_certificate(runtime, world.actor("dave"), serial=issue_for(runtime, world, "dave").serial,
                       reason="cessationOfOperation")
    job(runtime)  # before the hour: only the event notices
    kinds = sorted(m["X-Portail-Notice"].split("/")[0] for m in outbox(runtime))
    assert kinds == ["revoked"]
    clock.advance(timedelta(hours=1))
    job(runtime)  # the hour: every notice due
    kinds = sorted(m["X-Portail-Notice"].split("/")[0] for m in outbox(runtime))
    assert kinds.count("expiry") == 1 and kinds.count("escalation") == 2
    count = len(outbox(runtime))
    clock.advance(timedelta(hours=3))
    job(runtime)  # the same day: nothing new
    assert len(outbox(runtime)) == count
    with runtime.sessionmaker() as session:
        from sqlalchemy import select

        from ca.ledger.models import AuditEvent

        batches = session.execute(select(AuditEvent).where(AuditEvent.action == "notices.recorded")).scalars().all()
        assert len(batches) == 2 and all(b.actor == "system" for b in batches)


def test_pkictl_notify_run_as_of_writes_once(environ, runtime, world, tmp_path):
    """Two real `pkictl` processes at once (the second worker), then a third identical run: nothing new."""
    issued = issue_for(runtime, world)
    as_of = (issued.certificate.not_valid_after_utc - timedelta(days=6)).isoformat()
    pkictl = str(Path(sys.executable).with_name("pkictl"))
    env = {**os.environ, **environ}
    command = [pkictl, "notify", "run", "--as-of", as_of]
    preview = subprocess.run([*command, "--dry-run"], env=env, capture_output=True, text=True, check=False)
    assert preview.returncode == 0, preview.stderr
    assert f"as of {as_of[:19]}" in preview.stdout and "dry run" in preview.stdout
    expected = {line for line in preview.stdout.splitlines()[1:]}
    assert f"{world.emails['carol']} expiry {issued.serial}" in expected
    assert f"{world.emails['alice']} escalation {issued.serial}" in expected
    assert not outbox(runtime)
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    printed = [line for out, _err in outputs for line in out.splitlines()[1:-1]]
    assert sorted(printed) == sorted(expected)
    written = outbox(runtime)
    assert sorted(m["To"] for m in written) == sorted(line.split()[0] for line in expected)
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and again.stdout.splitlines()[1:] == ["0 notice(s): 0 sent, 0 to retry"]
    assert len(outbox(runtime)) == len(written)
    bad = subprocess.run([pkictl, "notify", "run", "--as-of", "yesterday"], env=env, capture_output=True,
                         text=True, check=False)
    assert bad.returncode != 0 and bad.stderr.startswith("error:") and len(bad.stderr.splitlines()) == 1

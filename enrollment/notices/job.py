"""The certificate-life work of the repository's maintenance loop (issue 11), one call per pass:

- every pass: predecessors past their renewal grace deadline are revoked `superseded` (ca.supersession),
  notices whose send failed are retried (`deliver_pending`);
- at most once an hour: revocation and detachment notices;
- once a day, from `lifecycle.notice_hour` (UTC): every notice (expiry warnings, escalation, digest).
Which notices were sent is in the ledger, so several repository processes may run this: each message still
goes out once. This process only remembers when it last computed, to keep the passes cheap.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from ca.actor import SYSTEM
from ca.runtime import Runtime
from ca.supersession import supersede_past_grace
from enrollment.notices.run import NoticeReport, deliver_pending, run_notices

log = logging.getLogger("portail.notices")


class LifecycleJob:
    def __init__(self) -> None:
        self._last_day: date | None = None
        self._last_hour: datetime | None = None

    def __call__(self, runtime: Runtime) -> None:
        superseded = supersede_past_grace(runtime)
        if superseded:
            log.info("revoked %d predecessor(s) past their renewal grace deadline", len(superseded))
        now = runtime.clock.now()
        hour = now.replace(minute=0, second=0, microsecond=0)
        report: NoticeReport | None = None
        if now.hour >= runtime.settings.lifecycle.notice_hour and self._last_day != now.date():
            report = run_notices(runtime, SYSTEM)
            self._last_day, self._last_hour = now.date(), hour
        elif self._last_hour != hour:
            report = run_notices(runtime, SYSTEM, events_only=True)
            self._last_hour = hour
        if report is not None and report.lines:
            log.info("notices: %d recorded, %d sent, %d to retry", len(report.lines), report.sent, report.failed)
        sent, failed = deliver_pending(runtime)
        if sent or failed:
            log.info("notices retried: %d sent, %d still failing", sent, failed)

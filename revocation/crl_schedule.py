"""When each issuer's CRL is republished without a revocation (issue 10 item 6): every
`crl.refresh_seconds` (default: half of the validity, BR §4.9.7 publishes well before nextUpdate), counted
on the monotonic clock from the publication this process last saw (ca.schedule.Every).

A CRL this process has not timed yet (its first pass, or one published by another process or by
`pkictl crl publish`) gets the deadline its thisUpdate implies on the wall clock, clamped to one period:
after a step back it is not held for the length of the step, after a step forward it is due once.

Besides, the published CRL must be usable on the wall clock relying parties share with us: one whose
thisUpdate is after now (the clock was stepped back since) or that is past half of its validity (stepped
forward) is due at once (ca.x509.validity.needs_refresh). The replacement carries the current time, so each
step costs at most one extra publication: never a burst, never a stop.
"""

from __future__ import annotations

import time
from datetime import datetime

from ca.ledger.models import CRLState
from ca.schedule import Every, Monotonic
from ca.settings import CRLSettings
from ca.x509.validity import needs_refresh


class CRLSchedule:
    def __init__(self, settings: CRLSettings, *, monotonic: Monotonic = time.monotonic) -> None:
        self.period = float(settings.refresh_seconds or settings.validity_hours * 3600 // 2)
        self._monotonic = monotonic
        self._timed: dict[int, tuple[int, Every]] = {}  # issuer id → (full CRL number timed, its deadline)

    def due(self, issuer_id: int, full: CRLState, now: datetime) -> bool:
        """Is the issuer's full CRL (its ledger state `full`) due for republication, `now` on the wall clock?"""
        timed = self._timed.get(issuer_id)
        if timed is None or timed[0] != full.crl_number:
            deadline = Every(self.period, monotonic=self._monotonic)
            left = (full.this_update - now).total_seconds() + self.period
            deadline.due_in(min(self.period, left))
            self._timed[issuer_id] = timed = (full.crl_number, deadline)
        return timed[1].due() or needs_refresh(full.this_update, full.next_update, now)

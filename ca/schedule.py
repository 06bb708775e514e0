"""When periodic jobs run, measured on the monotonic clock (issue 10 item 6).

Two clocks, two jobs:
- *When* a job runs (sleeps, "is it time yet", retry delays) is measured on `time.monotonic()`, which no
  wall-clock step moves (NTP correction, an operator's `date -s`, a VM restored from a snapshot). A step back
  cannot hold a job until the wall clock has caught up, a step forward cannot make it look overdue.
- *What* goes into signed objects (thisUpdate, nextUpdate, notBefore/notAfter: RFC 5280 §5.1.2.4-5,
  RFC 6960 §4.2.2.1) stays wall-clock time from `ca.clock.Clock`, since relying parties compare it with theirs.

`Every` is the one periodic deadline used by every background job: after a run, the next one is due a full
period later, counted from the end of that run, never from when it was due. A job that was late (a long
pass, a suspended process) therefore runs once and not once per missed period: there is no catch-up burst.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Monotonic = Callable[[], float]


class Every:
    """A job due every `seconds` on a monotonic source (injected in tests)."""

    def __init__(self, seconds: float, *, monotonic: Monotonic = time.monotonic, due_now: bool = True) -> None:
        if seconds <= 0:
            raise ValueError("a period must be positive")
        self.seconds = float(seconds)
        self._monotonic = monotonic
        self._next = monotonic() if due_now else monotonic() + self.seconds

    def due(self) -> bool:
        return self._monotonic() >= self._next

    def remaining(self) -> float:
        """Seconds until the job is due (0 when it is)."""
        return max(0.0, self._next - self._monotonic())

    def done(self) -> None:
        """The job just ran: the next run is due one full period from now (no catch-up of missed periods)."""
        self._next = self._monotonic() + self.seconds

    def due_in(self, seconds: float) -> None:
        """Due `seconds` from now, whatever the period (a deadline learnt from elsewhere, e.g. a shared ledger)."""
        self._next = self._monotonic() + max(0.0, seconds)

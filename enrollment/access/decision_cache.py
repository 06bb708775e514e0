"""The gate's decision cache (issue 14 item 2): a certificate already seen is let in by one lookup.

An allowed decision is held until the ledger's change feed (ca.change_feed) shows an event that may
change it — one touching that certificate (revoked, superseded), its holder (detached, deactivated,
moved), its company or any of the company's groups (services, members, perimeter), or anything global
(an issuer installed or removed, a service or connection point defined) — and never past the
certificate's notAfter (RFC 5280 §4.1.2.5) nor `MAX_HOLD_SECONDS`, a backstop for a change that is not
in the audit trail. A refusal is held only `frontoffice.decision_cache_ms`, as before.

The promise of DESIGN §5 — a revocation is refused within `decision_cache_ms` (at most 1 s) — rests on
two rules: the feed is read every half of that time, and no entry is served unless a read of the
feed that STARTED within that time succeeded (otherwise the gate asks the ledger, and a silent ledger
means a 503, fail closed). A decision read from the ledger is stored only if no invalidating event was
applied while it was being read (the generation check), so a decision older than an applied
revocation is never stored after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ca.change_feed import ChangeFeed
from ca.ledger.feed_store import FeedEvent
from ca.runtime import Runtime
from enrollment.access.bounded import BoundedDict
from enrollment.access.views import AccessDecision

MAX_HOLD_SECONDS = 300.0
# Events that change nothing the gate decides on (sign-ins, requests in progress, publications, the gate's
# own refusals...): they do not drop anything. Every other event drops what it may touch.
INERT_ACTIONS = ("gate.", "user.logged_", "user.locale_changed", "user.password_", "user.activation_",
                 "request.", "crl.", "ocsp.", "oauth.", "acme.", "notices.", "repository.",
                 "portal.certificate_refused", "api_client.", "certificate.issued")
DecisionKey = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class _Entry:
    decision: AccessDecision
    deadline: float  # time.monotonic()
    not_after: datetime | None  # an allowed decision ends with the certificate (runtime clock)


class DecisionCache:
    def __init__(self, runtime: Runtime, max_entries: int, bound_seconds: float) -> None:
        if not 0 < bound_seconds <= 1:
            raise ValueError("the decision cache needs a bound of (0, 1] second")
        self.runtime = runtime
        self.bound = bound_seconds
        self._entries: BoundedDict[DecisionKey, _Entry] = BoundedDict(max_entries)
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every batch of events that dropped (or may have dropped) entries
        self.feed = ChangeFeed(runtime, poll_seconds=bound_seconds / 2, apply=self._apply)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: DecisionKey, now: datetime | None = None) -> AccessDecision | None:
        """The decision held for `key`, if the feed is fresh and it is still valid at `now` (the runtime clock's
        reading for this request, read here when not given)."""
        feed = self.feed
        feed.poll()
        if not feed.fresh_within(self.bound):
            return None
        entry = self._entries.get(key)
        if entry is None or entry.deadline < time.monotonic():
            return None
        if entry.not_after is not None and (now or self.runtime.clock.now()) >= entry.not_after:
            return None
        return entry.decision

    def put(self, key: DecisionKey, decision: AccessDecision, generation: int) -> None:
        """Remember a decision read from the ledger while `self.generation` was `generation`."""
        if decision.allowed:
            entry = _Entry(decision, time.monotonic() + MAX_HOLD_SECONDS, decision.not_after)
        else:
            entry = _Entry(decision, time.monotonic() + self.bound, None)
        with self._lock:
            if generation == self.generation and self.feed.cursor is not None:
                self._entries[key] = entry

    def _apply(self, events: Sequence[FeedEvent] | None) -> None:
        serials: set[str] = set()
        users: set[str] = set()
        companies: set[int] = set()
        everything = events is None
        for event in events or ():
            if event.action.startswith(INERT_ACTIONS):
                continue
            if event.object_type == "certificate":
                serials.add(event.object_id)
            elif event.object_type == "user":  # the object is the person's e-mail (or id)
                users.add(event.object_id)
            elif event.company_id is not None:
                companies.add(event.company_id)
            else:
                everything = True
                break
        if not (everything or serials or users or companies):
            return
        with self._lock:
            self.generation += 1
            if everything:
                self._entries.clear()
                return
            self._entries.drop_where(lambda entry: _touched(entry.decision, serials, users, companies))


def _touched(decision: AccessDecision, serials: set[str], users: set[str], companies: set[int]) -> bool:
    return (decision.serial in serials or decision.email in users or str(decision.user_id) in users
            or decision.company_id in companies)

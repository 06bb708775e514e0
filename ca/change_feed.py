"""A follower of the ledger's change feed (the audit trail, ca.ledger.feed_store) for one process.

Each process that keeps memories derived from the ledger (the gate's decisions; the OCSP responder's
answers could use it the same way) follows the feed with one `ChangeFeed`: `poll()` is called on the hot
path and costs a clock read except once per `poll_seconds`, when ONE thread reads the new events and hands
them to the subscriber while the others carry on. `fresh_within(seconds)` tells the caller whether every
event committed more than `seconds` ago has been handed over: when the ledger is silent (a read failed)
it turns False, and a caller that promised "a change is seen within N s" stops trusting its memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ca.ledger import feed_store, store
from ca.ledger.feed_store import FeedEvent
from ca.runtime import Runtime

log = logging.getLogger("pki.change_feed")
MAX_BATCH = 10_000  # more events than this in one look: the subscriber is told to forget everything


class ChangeFeed:
    def __init__(self, runtime: Runtime, poll_seconds: float,
                 apply: Callable[[Sequence[FeedEvent] | None], None]) -> None:
        """`apply(events)` gets each batch in order; `apply(None)` means "too many to list: forget all"."""
        self.runtime = runtime
        self.poll_seconds = poll_seconds
        self._apply = apply
        self._lock = threading.Lock()
        self.cursor: int | None = None  # None until the first successful look
        self._next_look = 0.0
        self._fresh_since = float("-inf")  # monotonic start time of the last look that succeeded

    def fresh_within(self, seconds: float) -> bool:
        return time.monotonic() - self._fresh_since <= seconds

    def poll(self) -> None:
        """Look at the feed when a look is due and no other thread is looking; never raises."""
        if time.monotonic() < self._next_look or not self._lock.acquire(blocking=False):
            return
        try:
            started = time.monotonic()
            if started < self._next_look:  # another thread looked while this one waited for the lock
                return
            self._next_look = started + self.poll_seconds
            try:
                self._look()
            except Exception:  # noqa: BLE001  (a silent ledger: fresh_within turns False, callers stop trusting)
                log.warning("could not read the ledger's change feed", exc_info=True)
                return
            self._fresh_since = started
        finally:
            self._lock.release()

    def _look(self) -> None:
        with self.runtime.sessionmaker() as session:
            if self.cursor is None:
                self.cursor = store.last_event_id(session)
                self._apply(None)  # whatever was remembered before the first look is not vouched for
                return
            events = feed_store.events_since(session, self.cursor, MAX_BATCH + 1)
            if len(events) > MAX_BATCH:
                cursor = store.last_event_id(session)
        if not events:
            return
        if len(events) > MAX_BATCH:
            self._apply(None)
            self.cursor = cursor
            return
        self._apply(events)
        self.cursor = events[-1].id

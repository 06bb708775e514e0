"""Group commit: concurrent callers share one ledger transaction, each woken only after it committed.

A commit costs one fsync of the WAL (SQLite) or of the WAL record (PostgreSQL) whatever it holds, so
issuances that arrive while a commit is in flight are gathered and written together (issue 14 §1: several
intents in one commit, several results in one commit). Leader/follower under one condition variable: the
first caller to find no leader takes every queued unit of work, runs them in a single transaction — replayed
with each unit in its own SAVEPOINT when one fails (a serial collision), so that unit is rolled back alone
and its caller gets its own exception — commits, then marks the batch done and wakes the followers. A caller
returns only when the transaction that holds its rows has committed; if the commit fails, every caller of
the batch gets the error and nothing of the batch is in the ledger.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from ca.combining import Combiner

T = TypeVar("T")


@dataclass
class _Unit(Generic[T]):
    work: Callable[[Session], T]
    result: Any = None
    error: BaseException | None = None
    done: bool = False


class GroupCommitter:
    """`run(work)` executes `work(session)` in a transaction shared with concurrent callers, and returns its
    result once that transaction is committed (`batches` and `units` count what it did, for tests and
    benchmarks)."""

    def __init__(self, factory: sessionmaker[Session], max_batch: int = 512) -> None:
        self._factory = factory
        self._combiner: Combiner[_Unit[Any]] = Combiner(max_batch)

    @property
    def batches(self) -> int:
        return self._combiner.batches

    @property
    def units(self) -> int:
        return self._combiner.items

    def run(self, work: Callable[[Session], T]) -> T:
        unit: _Unit[T] = _Unit(work)
        self._combiner.join(unit, self._commit)
        if unit.error is not None:
            raise unit.error
        return unit.result

    def _commit(self, batch: list[_Unit[Any]]) -> None:
        """The batch runs first without SAVEPOINTs (two statements fewer per unit): almost always every unit
        succeeds. If one fails, the whole transaction is rolled back — nothing of it was committed — and a
        batch of several is replayed with a SAVEPOINT per unit, so that only the failing unit is left out."""
        if self._run(batch, isolated=False):
            return
        self._run(batch, isolated=True)

    def _run(self, batch: list[_Unit[Any]], *, isolated: bool) -> bool:
        """False when a unit failed in the optimistic pass of a batch of several (rolled back: replay it).
        Otherwise every failure has gone to its own caller — a lone unit's failure rolls back its
        transaction — and a commit failure to every caller of the batch."""
        failed: _Unit[Any] | None = None
        try:
            with self._factory.begin() as session:
                for unit in batch:
                    unit.error, unit.result = None, None
                    if isolated:
                        try:
                            with session.begin_nested():
                                unit.result = unit.work(session)
                        except Exception as error:  # noqa: BLE001 - handed to its own caller, re-raised there
                            unit.error = error
                        continue
                    failed = unit
                    unit.result = unit.work(session)
                    failed = None
        except BaseException as error:  # noqa: BLE001 - handed to the callers, re-raised there
            if failed is not None and isinstance(error, Exception):
                if len(batch) > 1:
                    return False
                failed.error = error
                return True
            for unit in batch:
                if unit.error is None:
                    unit.error = error
                    unit.result = None
        return True


_COMMITTERS: weakref.WeakKeyDictionary[sessionmaker[Session], GroupCommitter] = weakref.WeakKeyDictionary()
_COMMITTERS_LOCK = threading.Lock()


def committer_for(factory: sessionmaker[Session]) -> GroupCommitter:
    """The one committer of a ledger (its session factory) in this process."""
    with _COMMITTERS_LOCK:
        committer = _COMMITTERS.get(factory)
        if committer is None:
            committer = _COMMITTERS[factory] = GroupCommitter(factory)
        return committer

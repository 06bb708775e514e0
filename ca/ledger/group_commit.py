"""Group commit: concurrent callers share one ledger transaction, each woken only after it committed.

A commit costs one fsync of the WAL (SQLite) or of the WAL record (PostgreSQL) whatever it holds, so
issuances that arrive while a commit is in flight are gathered and written together (issue 14 §1: several
intents in one commit, several results in one commit). Leader/follower under one condition variable: the
first caller to find no leader takes every queued unit of work, runs each in its own SAVEPOINT of a single
transaction — so a unit that fails (a serial collision) is rolled back alone and its caller gets its own
exception — commits, then marks the batch done and wakes the followers. A caller returns only when the
transaction that holds its rows has committed; if the commit fails, every caller of the batch gets the
error and nothing of the batch is in the ledger.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

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
        self._max_batch = max_batch
        self._condition = threading.Condition()
        self._queue: list[_Unit[Any]] = []
        self._leading = False
        self.batches = 0
        self.units = 0

    def run(self, work: Callable[[Session], T]) -> T:
        unit: _Unit[T] = _Unit(work)
        with self._condition:
            self._queue.append(unit)
            while not unit.done:
                if self._leading:
                    self._condition.wait()
                    continue
                self._leading = True
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
                self._condition.release()
                try:
                    self._commit(batch)
                finally:
                    self._condition.acquire()
                    self._leading = False
                    for done in batch:
                        done.done = True
                    self.batches += 1
                    self.units += len(batch)
                    self._condition.notify_all()
        if unit.error is not None:
            raise unit.error
        return unit.result

    def _commit(self, batch: list[_Unit[Any]]) -> None:
        try:
            with self._factory.begin() as session:
                for unit in batch:
                    try:
                        with session.begin_nested():
                            unit.result = unit.work(session)
                    except Exception as error:  # noqa: BLE001 - handed to its own caller, re-raised there
                        unit.error = error
        except BaseException as error:  # noqa: BLE001 - every caller of the batch re-raises it
            for unit in batch:
                if unit.error is None:
                    unit.error = error
                    unit.result = None


_COMMITTERS: weakref.WeakKeyDictionary[sessionmaker[Session], GroupCommitter] = weakref.WeakKeyDictionary()
_COMMITTERS_LOCK = threading.Lock()


def committer_for(factory: sessionmaker[Session]) -> GroupCommitter:
    """The one committer of a ledger (its session factory) in this process."""
    with _COMMITTERS_LOCK:
        committer = _COMMITTERS.get(factory)
        if committer is None:
            committer = _COMMITTERS[factory] = GroupCommitter(factory)
        return committer

"""Leader/follower batching: concurrent callers' items run together, by whichever caller finds no batch
running (issue 14 §1). The ledger's group commit, the shared session reads and the batched CSR uploads
each hand their item here with the function that runs a batch of them.

The first caller to find no leader takes every queued item (at most `max_batch`), runs them outside the
lock, then marks them done, wakes their callers and hands the lead to the first caller still queued; a
caller returns only once the batch holding its item has run.

The batch function puts each item's result or error in the item
itself (one bad item fails alone); an exception it lets out reaches the leader, and its followers are
released with their items as the function left them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar


class Item(Protocol):
    done: bool


T = TypeVar("T", bound=Item)


class Combiner(Generic[T]):
    """`join(item, run)`: returns once `run` ran on a batch that held `item`. `batches` and `items` count
    what it did (for tests and benchmarks).

    Each caller waits on a lock of its own, released once: when the batch holding its item is done, or when
    it is handed the lead of the next batch. A finished batch so wakes its own callers and at most one next
    leader, not every waiting caller (a Condition's notify_all woke each of 16 callers per batch, most only to
    wait again: ~7 % of the CPU of an API upload, issue 14 §1)."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self.batches = 0
        self.items = 0
        self._mutex = threading.Lock()
        self._queue: list[tuple[T, threading.Lock]] = []
        self._holders: list[threading.Lock] = []  # held() callers waiting for the lead
        self._leading = False

    def join(self, item: T, run: Callable[[list[T]], None]) -> None:
        waiter = threading.Lock()
        waiter.acquire()
        with self._mutex:
            self._queue.append((item, waiter))
            lead = not self._leading
            self._leading = True
        if not lead:
            waiter.acquire()  # released once: our item is done, or the lead is ours
            if item.done:
                return
        while True:  # the leader: batches until its own item is done
            with self._mutex:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            failed = True
            try:
                run([queued for queued, _waiter in batch])
                failed = False
            finally:
                with self._mutex:
                    for done, _waiter in batch:
                        done.done = True
                    self.batches += 1
                    self.items += len(batch)
                    if failed and not item.done:  # the error goes to this caller: its item leaves the queue
                        self._queue.remove((item, waiter))
                    successor = self._next_leader() if item.done or failed else None
                for _done, other in batch:
                    if other is not waiter:
                        other.release()
                if successor is not None:
                    successor.release()
            if item.done:
                return

    def _next_leader(self) -> threading.Lock | None:
        """Under the mutex, as the lead is given up: the waiter to hand it to, or None (nobody waits)."""
        if self._holders:
            return self._holders.pop(0)
        if self._queue:
            return self._queue[0][1]
        self._leading = False
        return None

    @property
    def leading(self) -> bool:
        """A batch is running (or the combiner is `held`)."""
        return self._leading

    def queued(self) -> int:
        """Items waiting for the next batch."""
        with self._mutex:
            return len(self._queue)

    @contextmanager
    def held(self) -> Iterator[None]:
        """No batch starts while held, as if one were running: callers queue up, and on release the first
        of them leads them all (tests use it to make one batch of known items)."""
        waiter = threading.Lock()
        waiter.acquire()
        with self._mutex:
            wait = self._leading
            if wait:
                self._holders.append(waiter)
            self._leading = True
        if wait:
            waiter.acquire()
        try:
            yield
        finally:
            with self._mutex:
                successor = self._next_leader()
            if successor is not None:
                successor.release()

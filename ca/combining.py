"""Leader/follower batching: concurrent callers' items run together, by whichever caller finds no batch
running (issue 14 §1). The ledger's group commit, the shared session reads and the batched CSR uploads
each hand their item here with the function that runs a batch of them.

Under one condition variable, the first caller to find no leader takes every queued item (at most
`max_batch`), runs them outside the lock, then marks them done and wakes the others; a caller returns only
once the batch holding its item has run. The batch function puts each item's result or error in the item
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
    what it did (for tests and benchmarks)."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self.batches = 0
        self.items = 0
        self._condition = threading.Condition()
        self._queue: list[T] = []
        self._leading = False

    def join(self, item: T, run: Callable[[list[T]], None]) -> None:
        with self._condition:
            self._queue.append(item)
            while not item.done:
                if self._leading:
                    self._condition.wait()
                    continue
                self._leading = True
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                self._condition.release()
                try:
                    run(batch)
                finally:
                    self._condition.acquire()
                    self._leading = False
                    for done in batch:
                        done.done = True
                    self.batches += 1
                    self.items += len(batch)
                    self._condition.notify_all()

    @property
    def leading(self) -> bool:
        """A batch is running (or the combiner is `held`)."""
        return self._leading

    def queued(self) -> int:
        """Items waiting for the next batch."""
        with self._condition:
            return len(self._queue)

    @contextmanager
    def held(self) -> Iterator[None]:
        """No batch starts while held, as if one were running: callers queue up, and on release the first
        to wake runs them all (tests use it to make one batch of known items)."""
        with self._condition:
            while self._leading:
                self._condition.wait()
            self._leading = True
        try:
            yield
        finally:
            with self._condition:
                self._leading = False
                self._condition.notify_all()

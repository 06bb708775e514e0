"""A dictionary with a size limit: the least recently written entry goes first when it is full.

The gate's memories (decisions, refusal counts, last uses, parsed issuer certificates) are keyed by what
clients send, so each one is bounded: a client that presents a new certificate on every request costs a
fixed amount of memory, not an unbounded one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedDict(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._data: OrderedDict[K, V] = OrderedDict()
        # The gate looks its memories up on every request: the dict's own method, without a Python frame.
        self.get: Callable[[K], V | None] = self._data.get

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        if key in data:
            data.move_to_end(key)
        data[key] = value
        while len(data) > self.max_entries:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()

    def drop_where(self, condition: Callable[[V], bool]) -> int:
        """Remove every entry whose value meets `condition`; how many went."""
        doomed = [key for key, value in self._data.items() if condition(value)]
        for key in doomed:
            del self._data[key]
        return len(doomed)

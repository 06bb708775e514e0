"""Keyset (cursor) pagination, one rule for every list (issue 15 item 2).

A page is asked for with `limit` (default 50, at most 500), an optional `cursor` and a `sort`; it answers
the items and the cursor of the next page (None on the last). The cursor is opaque to clients: base64url of
JSON {"s": sort, "k": [sort key of the last row, its id]}. It carries the position, never a permission: the
use case applies the actor's scope to every page, so an edited cursor can only move within what the actor
may see. A cursor that does not decode, or was made for another sort, is a 400 (BadRequestError).

Keyset rather than OFFSET: a page costs the same at row 1,000,000 as at row 1 (one index range scan), and a
row added while someone pages is never shown twice nor shifts the rows after it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from ca.errors import BadRequestError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY = 254  # the longest thing searched: an e-mail address
T = TypeVar("T")
Key = list[str | int | None]


@dataclass(frozen=True)
class PageRequest:
    """What a list adapter parsed from its query string; `sort` is a column name, `-name` for descending."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    sort: str | None = None
    q: str | None = None

    def checked(self, sorts: tuple[str, ...], default: str) -> PageRequest:
        """Refuse a limit outside 1..500, an unknown sort and an over-long search, naming the field."""
        if not 1 <= self.limit <= MAX_LIMIT:
            raise BadRequestError(f"limit must be 1 to {MAX_LIMIT}, got {self.limit}")
        sort = self.sort or default
        if sort.lstrip("-") not in sorts:
            choices = ", ".join(f"{s}, -{s}" for s in sorts)
            raise BadRequestError(f"unknown sort {sort!r}; choose one of {choices}")
        q = (self.q or "").strip() or None
        if q is not None and len(q) > MAX_QUERY:
            raise BadRequestError(f"search text is at most {MAX_QUERY} characters")
        return PageRequest(limit=self.limit, cursor=self.cursor or None, sort=sort, q=q)

    @property
    def descending(self) -> bool:
        return (self.sort or "").startswith("-")

    @property
    def column(self) -> str:
        return (self.sort or "").lstrip("-")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    next: str | None = None


def parse_limit(text: str | None) -> int:
    """The `limit` query parameter: absent means the default; anything but an integer 1..500 is a 400."""
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isdigit() or len(text) > 6:
        raise BadRequestError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    value = int(text)
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequestError(f"limit must be 1 to {MAX_LIMIT}, got {value}")
    return value


def _plain(value: object) -> str | int | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int)):
        return value
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def encode_cursor(sort: str, key: list[object]) -> str:
    data = json.dumps({"s": sort, "k": [_plain(v) for v in key]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


_BAD = "this cursor is not valid for this list (start again from the first page)"


def decode_cursor(cursor: str, sort: str, width: int) -> Key:
    """The key list of a cursor made by `encode_cursor` for the same sort, with `width` values."""
    if len(cursor) > 1024:
        raise BadRequestError(_BAD)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequestError(_BAD) from None
    if not isinstance(data, dict) or data.get("s") != sort:
        raise BadRequestError(_BAD)
    key = data.get("k")
    if not isinstance(key, list) or len(key) != width or not all(
            v is None or isinstance(v, (str, int)) and not isinstance(v, bool) for v in key):
        raise BadRequestError(_BAD)
    if not isinstance(key[-1], int):  # the tie-breaker is always the row id
        raise BadRequestError(_BAD)
    return key


def key_datetime(value: str | int | None) -> datetime:
    """A datetime sort key back from its cursor text (a 400 when it is not one)."""
    if not isinstance(value, str):
        raise BadRequestError(_BAD)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestError(_BAD) from None
    if parsed.tzinfo is None:
        raise BadRequestError(_BAD)
    return parsed

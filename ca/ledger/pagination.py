"""The keyset half of ca.pagination: ORDER BY (sort column, id) and WHERE (sort column, id) beyond the cursor.

A row-value comparison `(col, id) < (:k, :id)` is what an index on (…, col, id) answers with one range scan
on PostgreSQL and SQLite (row values since SQLite 3.15). The id breaks ties, so the order is total and a
cursor names exactly one position. Sort columns are NOT NULL (a NULL never compares).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import Session

from ca.errors import BadRequestError
from ca.pagination import Key, PageRequest, decode_cursor, encode_cursor, key_datetime


@dataclass(frozen=True)
class SortColumn:
    column: Any  # a mapped NOT NULL column
    kind: str  # int | str | datetime


def _typed(value: str | int | None, kind: str) -> Any:
    if kind == "datetime":
        return key_datetime(value)
    if kind == "int" and isinstance(value, int) or kind == "str" and isinstance(value, str):
        return value
    raise BadRequestError("this cursor is not valid for this list (start again from the first page)")


MAX_ID = 2**63 - 1


def fetch_page(session: Session, query: Select[Any], *, request: PageRequest, sorts: dict[str, SortColumn],
               id_column: Any, within: tuple[Any, int] | None = None) -> tuple[list[Any], str | None]:
    """Rows of one page of `query` (already filtered and scoped) and the cursor of the next page.

    `within` = (column, value) the query already holds equal (the company of a company's list): on the id
    order it is restated as the row range (column, id) of that value, which is what the index (column, id)
    answers. Without it PostgreSQL estimates the company's rows spread evenly and walks the primary key
    backwards, filtering: 900,000 rows read (1.2 s) when the company's certificates are the oldest ones
    (bench/bench_lists.py, 1,000,000 certificates)."""
    assert request.sort is not None, "PageRequest.checked() first"
    sort = sorts[request.column]
    same_as_id = sort.column is id_column
    width = 1 if same_as_id else 2
    if request.cursor:
        key = decode_cursor(request.cursor, request.sort, width)
        if same_as_id:
            after = id_column < key[0] if request.descending else id_column > key[0]
        else:
            left = tuple_(sort.column, id_column)
            right = tuple_(literal(_typed(key[0], sort.kind), type_=sort.column.type), literal(key[1]))
            after = left < right if request.descending else left > right
        query = query.where(after)
    if within is not None and same_as_id:
        column, value = within
        query = query.where(tuple_(column, id_column).between(tuple_(literal(value), literal(0)),
                                                               tuple_(literal(value), literal(MAX_ID))))
    order = [sort.column] if same_as_id else [sort.column, id_column]
    query = query.order_by(*[c.desc() if request.descending else c.asc() for c in order]).limit(request.limit + 1)
    rows = list(session.execute(query).scalars())
    if len(rows) <= request.limit:
        return rows, None
    rows = rows[:request.limit]
    last = rows[-1]
    values: Key = [] if same_as_id else [getattr(last, sort.column.key)]
    return rows, encode_cursor(request.sort, [*values, getattr(last, id_column.key)])

"""The full CRL's rows read straight from the database driver, a chunk ahead of the encoder (issue 14 item 4).

A full CRL reads every revoked row of an issuer: 10^6 rows. Through SQLAlchemy's Result each row costs a
Row object and its processing, about as much as encoding it; here the query is compiled by SQLAlchemy once
and run on the driver's own cursor in the session's transaction (so it sees what the CRL lock protects):
- SQLite: sqlite3's cursor, whose tuples are the rows;
- PostgreSQL: a server-side (named) cursor, so the client never holds the whole result (libpq would keep
  every row of a plain query in memory: ~150 MB at 10^6), fetched `chunk` rows at a time.
Past the first chunk (a small CRL is read in one fetch, without a thread), the next chunk is fetched by a
helper thread while the caller encodes the current one: both drivers release
the GIL while the database works (sqlite3_step, libpq waits), so the time formatting done by the database
and the encoding overlap on two cores. The driver connection is only ever used by one thread at a time: the
helper until the last chunk, and the caller after it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

Rows = Sequence[tuple[str, str, str | None]]
_DONE = object()


def driver_rows(session: Session, query: Select[Any], chunk: int) -> Iterator[Rows]:
    """Chunks of `query`'s rows as the driver returns them. The query's binds must be plain ints and strings
    (no type processing: the driver gets them as they are)."""
    connection = session.connection()
    compiled = query.compile(bind=connection)
    driver = connection.connection.driver_connection
    assert driver is not None
    if connection.dialect.name == "postgresql":
        cursor = driver.cursor(name="crl_rows")
        cursor.itersize = chunk
        cursor.execute(compiled.string, compiled.params)
    else:
        cursor = driver.cursor()
        cursor.arraysize = chunk
        cursor.execute(compiled.string, tuple(compiled.params[name] for name in compiled.positiontup or ()))
    try:
        first = cursor.fetchmany(chunk)
        if first:
            yield first
        if len(first) == chunk:  # more to come: a large CRL, worth the helper thread
            yield from _prefetched(lambda: cursor.fetchmany(chunk))
    finally:
        cursor.close()


def _prefetched(fetch: Any) -> Iterator[Rows]:
    """Chunks from `fetch()` until an empty one, fetched one ahead by a helper thread."""
    ready: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            while not stop.is_set():
                rows = fetch()
                ready.put(rows if rows else _DONE)
                if not rows:
                    return
        except BaseException as error:  # noqa: BLE001  (handed to the caller, raised there)
            ready.put(error)

    helper = threading.Thread(target=produce, name="crl-rows", daemon=True)
    helper.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while helper.is_alive():  # unblock a helper waiting to put, then let it end before the cursor closes
            try:
                ready.get_nowait()
            except queue.Empty:
                helper.join(0.05)

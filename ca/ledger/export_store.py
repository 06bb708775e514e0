"""Whole-list reads for exports (issue 15 item 2): the rows of a list in batches from a server-side cursor.

A company's CSV may be 100,000 certificates; loading them all (and their views) would make the memory of one
download grow with the company. `yield_per` makes SQLAlchemy stream the result (psycopg: a named,
server-side cursor; SQLite steps its statement) and hand it over `batch` rows at a time, so what is held is
one batch, whatever the row count. On SQLite the stream reads a WAL snapshot without the write lock
(database.READ_ONLY), so writers are not held back while a download runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.orm import Session

from ca.ledger.database import READ_ONLY
from ca.ledger.list_store import CertificateScope, certificates_query
from ca.ledger.models import CertificateRecord

EXPORT_BATCH = 500


def read_only(session: Session) -> None:
    """Mark a fresh session as only reading, before its first query (SQLite: a deferred BEGIN)."""
    session.connection(execution_options={READ_ONLY: True})


def stream_certificates(session: Session, scope: CertificateScope, q: str | None, now: datetime, *,
                        batch: int = EXPORT_BATCH) -> Iterator[list[CertificateRecord]]:
    """The list's certificates newest first (the pages' default order), `batch` rows at a time."""
    query = certificates_query(scope, q, now).order_by(CertificateRecord.id.desc())
    result = session.execute(query.execution_options(yield_per=batch))
    for partition in result.scalars().partitions():
        # The session's identity map holds its objects weakly: a batch no longer referenced is freed.
        yield list(partition)

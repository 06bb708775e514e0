"""Read-only sessions (issue 14 §1): a sessionmaker on the same engine and pool whose transactions are marked
read-only, so that on SQLite they begin DEFERRED and take no write lock (database._sqlite_setup). SQLite
allows one writer at a time across every process of the ledger; a read that begins IMMEDIATE queues behind
writers — and behind the busy handler's sleeps — for nothing. Only code that never writes in the session
may use it: a DEFERRED transaction that tries to write after another process committed fails with
SQLITE_BUSY instead of waiting, the upgrade hazard IMMEDIATE exists to avoid (SQLite "Transaction" §2.1,
https://sqlite.org/lang_transaction.html). On PostgreSQL the mark changes nothing."""

from __future__ import annotations

import threading
import weakref

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ca.ledger.issuance_reads import READ_ONLY

_READERS: weakref.WeakKeyDictionary[sessionmaker[Session], sessionmaker[Session]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def read_only(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The read-only twin of `factory` (one per factory, made once)."""
    with _LOCK:
        reader = _READERS.get(factory)
        if reader is None:
            engine: Engine = factory.kw["bind"]
            reader = _READERS[factory] = sessionmaker(engine.execution_options(**READ_ONLY),
                                                      expire_on_commit=False)
        return reader

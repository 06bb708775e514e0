"""The read every logged-in request starts with (issue 14 §1): its session, its person and the person's
company, in one Core statement of one read-only transaction.

The ORM path (`portal_store.get_portal_session`, `get_user`, `store.get_company`) took three statements and
the ORM's identity-map work for each, on every API call. Nothing here is cached: the session's end, the
person's status, role and company, and the company's approval policy are read from the ledger on every
request, so logout, detachment or deactivation refuse the very next one (ASVS 5.0 V7.4.1). Read-only
(`READ_ONLY`): on SQLite it begins DEFERRED and does not queue behind the group committer's write lock
(ca.ledger.issuance_reads).

Concurrent requests share that read (leader/follower, as ca.ledger.group_commit): the first caller to find
no read in flight takes every digest waiting and reads them in one statement (`id_sha256 IN (...)`); each
caller gets its own session's row, read after it asked — as fresh as a read of its own, for one connection,
one BEGIN and one statement per group instead of per request (issue 14 §1).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ca.combining import Combiner
from ca.ledger.issuance_reads import READ_ONLY
from ca.ledger.models import Company, User
from ca.ledger.portal_models import PortalSession

_SESSIONS: Table = PortalSession.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_COMPANIES: Table = Company.__table__  # type: ignore[assignment]

_SESSION_PERSON_COMPANY = (
    select(_SESSIONS.c.id_sha256, _SESSIONS.c.created_at, _SESSIONS.c.last_seen_at, _SESSIONS.c.ended_at,
           _USERS.c.id, _USERS.c.email, _USERS.c.full_name, _USERS.c.role, _USERS.c.company_id, _USERS.c.status,
           _USERS.c.locale, _COMPANIES.c.eic.label("company_eic"), _COMPANIES.c.name.label("company_name"),
           _COMPANIES.c.approval_policy)
    .select_from(_SESSIONS.join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
                 .outerjoin(_COMPANIES, _COMPANIES.c.id == _USERS.c.company_id))
    .where(_SESSIONS.c.id_sha256.in_(bindparam("digests", expanding=True)))
)
MAX_GROUP = 256


@dataclass(frozen=True)
class PersonFacts:
    """A person as the session check and `enrollment.accounts.sessions.actor_for` need them."""

    id: int
    email: str
    full_name: str
    role: str
    company_id: int | None
    status: str
    locale: str | None


@dataclass(frozen=True)
class CompanyFacts:
    eic: str
    name: str
    approval_policy: str


@dataclass(frozen=True)
class SessionFacts:
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    user: PersonFacts
    company: CompanyFacts | None


def read_session(engine: Engine, id_sha256: str) -> SessionFacts | None:
    """The session with this token digest, its person and company as committed now; None: no such session."""
    return _reader_for(engine).read(id_sha256)


def read_sessions_in(session: Session, digests: Iterable[str]) -> dict[str, SessionFacts]:
    """The same read for several token digests, inside a transaction of the caller's (the one that records
    a batch of uploads, enrollment.requests.request_batcher): one statement, as committed now."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    rows = session.connection().execute(_SESSION_PERSON_COMPANY, {"digests": wanted}).all()
    return {row.id_sha256: _facts(row) for row in rows}


@dataclass
class _Ask:
    digest: str
    done: bool = False
    facts: SessionFacts | None = None
    error: BaseException | None = None


@dataclass
class _Reader:
    engine: weakref.ref[Engine]
    combiner: Combiner[_Ask] = field(default_factory=lambda: Combiner(MAX_GROUP))

    def read(self, digest: str) -> SessionFacts | None:
        ask = _Ask(digest)
        self.combiner.join(ask, lambda group: _read_group(self.engine(), group))
        if ask.error is not None:
            raise ask.error
        return ask.facts


_READERS: weakref.WeakKeyDictionary[Engine, _Reader] = weakref.WeakKeyDictionary()
_READERS_LOCK = threading.Lock()


def _reader_for(engine: Engine) -> _Reader:
    with _READERS_LOCK:
        reader = _READERS.get(engine)
        if reader is None:
            reader = _READERS[engine] = _Reader(weakref.ref(engine))
        return reader


def read_counts(engine: Engine) -> tuple[int, int]:
    """(statements, sessions read) by this process on this ledger."""
    combiner = _reader_for(engine).combiner
    return combiner.batches, combiner.items


def _read_group(engine: Engine | None, group: list[_Ask]) -> None:
    """One statement for the group; a failure (the ledger is down) reaches each caller of the group."""
    try:
        assert engine is not None, "the ledger's engine is gone"
        with engine.connect() as connection:
            rows = connection.execution_options(**READ_ONLY).execute(
                _SESSION_PERSON_COMPANY, {"digests": sorted({ask.digest for ask in group})}).all()
            connection.rollback()
        found = {row.id_sha256: _facts(row) for row in rows}
        for ask in group:
            ask.facts = found.get(ask.digest)
    except Exception as error:  # noqa: BLE001 - handed to each caller, raised there
        for ask in group:
            ask.error = error


def _facts(row: Any) -> SessionFacts:
    company = (CompanyFacts(row.company_eic, row.company_name, row.approval_policy)
               if row.company_id is not None and row.company_eic is not None else None)
    return SessionFacts(row.created_at, row.last_seen_at, row.ended_at,
                        PersonFacts(row.id, row.email, row.full_name, row.role, row.company_id, row.status,
                                    row.locale), company)

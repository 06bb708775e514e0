"""The request rows of a batch of CSR uploads (enrollment.requests.request_batcher, issue 14 §1): each kind of
write is one statement (or one executemany) for the whole batch, in the transactions of the batch.

- `read_members` / `blocked_among`: the requesters, their companies' approval policies and the blocked keys
  of the batch, read inside the transaction that records the requests (the policy is the one committed when
  the request is recorded, DESIGN §4);
- `insert_requests`: the request rows (`approved` under the `auto` policy, `pending` under `manual`);
- `mark_requests_issued`: called by ca.issuance in the transaction that stores the certificates, so a request
  turns `issued` in the very commit that makes its certificate durable, with its chained `request.issued`
  event;
- `mark_requests_failed`: the CA refused a recorded request: `failed`, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ca.actor import Actor
from ca.ledger.issuance_reads import READ_ONLY
from ca.ledger.issuance_store import append_events
from ca.ledger.models import BlockedKey, CertificateRecord, CertificateRequest, Company, User
from ca.vocabulary import RequestStatus

_REQUESTS: Table = CertificateRequest.__table__  # type: ignore[assignment]
_CERTIFICATES: Table = CertificateRecord.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_COMPANIES: Table = Company.__table__  # type: ignore[assignment]
_BLOCKED: Table = BlockedKey.__table__  # type: ignore[assignment]

_MEMBERS = (
    select(_USERS.c.id, _USERS.c.email, _USERS.c.full_name, _USERS.c.status, _USERS.c.company_id,
           _COMPANIES.c.name.label("company_name"), _COMPANIES.c.approval_policy)
    .select_from(_USERS.outerjoin(_COMPANIES, _COMPANIES.c.id == _USERS.c.company_id))
    .where(_USERS.c.id.in_(bindparam("user_ids", expanding=True)))
)
_BLOCKED_AMONG = select(_BLOCKED.c.spki_sha256).where(_BLOCKED.c.spki_sha256.in_(bindparam("spkis", expanding=True)))
_REQUESTS_OF_CERTIFICATES = (
    select(_CERTIFICATES.c.id, _CERTIFICATES.c.request_id, _REQUESTS.c.company_id)
    .select_from(_CERTIFICATES.join(_REQUESTS, _REQUESTS.c.id == _CERTIFICATES.c.request_id))
    .where(_CERTIFICATES.c.id.in_(bindparam("row_ids", expanding=True)))
)
_MARK_ISSUED = (update(_REQUESTS)
                .where(and_(_REQUESTS.c.id == bindparam("request_id"),
                            _REQUESTS.c.company_id == bindparam("request_company_id")))
                .values(status=RequestStatus.ISSUED,
                        decided_at=func.coalesce(_REQUESTS.c.decided_at, bindparam("now"))))
_MARK_FAILED = (update(_REQUESTS)
                .where(and_(_REQUESTS.c.id == bindparam("request_id"),
                            _REQUESTS.c.company_id == bindparam("request_company_id")))
                .values(status=RequestStatus.FAILED, decided_at=bindparam("now"), comment=bindparam("reason")))


@dataclass(frozen=True)
class Member:
    """A requester as committed now, with their company's name and approval policy (None: no company)."""

    id: int
    email: str
    full_name: str
    status: str
    company_id: int | None
    company_name: str | None
    approval_policy: str | None


def read_members(session: Session, user_ids: Iterable[int]) -> dict[int, Member]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.connection().execute(_MEMBERS, {"user_ids": ids})
    return {row.id: Member(row.id, row.email, row.full_name, row.status, row.company_id, row.company_name,
                           row.approval_policy) for row in rows}


def blocked_among(session: Session, spkis: Iterable[str]) -> set[str]:
    """Which of these key digests are blocked (reported compromised)."""
    wanted = sorted(set(spkis))
    if not wanted:
        return set()
    return set(session.connection().execute(_BLOCKED_AMONG, {"spkis": wanted}).scalars())


@dataclass(frozen=True)
class NewRequest:
    user_id: int
    company_id: int
    csr_der: bytes
    status: str


_REQUEST_COLUMNS = ("user_id", "company_id", "profile", "csr_der", "status", "created_at")
_Processor = Callable[[Any], Any] | None
_INSERTS: dict[str, tuple[str, list[_Processor]]] = {}


def _insert_sql(connection: Connection) -> tuple[str, list[_Processor]]:
    """The INSERT … RETURNING of one request row for this dialect, and each column's bind processor (the
    conversion SQLAlchemy's compiled statements apply, UTCDateTime's on SQLite for one), made once."""
    dialect = connection.dialect
    prepared = _INSERTS.get(dialect.name)
    if prepared is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        processors: list[_Processor] = [_REQUESTS.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                                        for name in _REQUEST_COLUMNS]
        sql = (f"INSERT INTO {_REQUESTS.name} ({', '.join(_REQUEST_COLUMNS)}) "
               f"VALUES ({', '.join([mark] * len(_REQUEST_COLUMNS))}) RETURNING id")
        prepared = _INSERTS[dialect.name] = (sql, processors)
    return prepared


def insert_requests(session: Session, rows: Sequence[NewRequest], *, profile: str, at: datetime) -> list[int]:
    """The request rows, their ids in the order of `rows`: one INSERT … RETURNING each on the driver (a
    Core statement cost ~85 µs a row in SQLAlchemy's parameter handling; a multi-row INSERT twice that, and
    its RETURNING order is unspecified, https://sqlite.org/lang_returning.html §3)."""
    connection = session.connection()
    sql, processors = _insert_sql(connection)
    ids = []
    for row in rows:
        values = (row.user_id, row.company_id, profile, row.csr_der, row.status, at)
        bound = tuple(value if process is None or value is None else process(value)
                      for process, value in zip(processors, values, strict=True))
        ids.append(int(connection.exec_driver_sql(sql, bound).scalar_one()))
    return ids


def mark_requests_issued(session: Session, actor: Actor, issued: Sequence[tuple[int, str]], at: datetime) -> None:
    """For each (certificate row id, serial) of a batch whose certificate belongs to a portal request: the
    request → `issued` (its decision time kept, or `at`) and its `request.issued` event, chained after the
    certificates' events in the same transaction. Certificates without a request are left alone."""
    if not issued:
        return
    serials = dict(issued)
    found = list(session.connection().execute(_REQUESTS_OF_CERTIFICATES, {"row_ids": sorted(serials)}).all())
    if not found:
        return
    order = {row_id: position for position, (row_id, _serial) in enumerate(issued)}
    found.sort(key=lambda row: order[row.id])  # the events in the order of the certificates' own
    session.connection().execute(_MARK_ISSUED, [
        {"request_id": row.request_id, "request_company_id": row.company_id, "now": at} for row in found])
    append_events(session, [{
        "at": at, "actor": actor.name, "action": "request.issued", "object_type": "request",
        "object_id": str(row.request_id), "company_id": row.company_id, "details": {"serial": serials[row.id]},
        "source_ip": actor.source_ip,
    } for row in found])


@dataclass(frozen=True)
class Failure:
    actor: Actor
    request_id: int
    company_id: int
    reason: str


def mark_requests_failed(session: Session, failures: Sequence[Failure], at: datetime, *,
                         max_comment: int) -> None:
    """Recorded requests the CA refused → `failed` with the reason, and their `request.failed` events."""
    if not failures:
        return
    session.connection().execute(_MARK_FAILED, [
        {"request_id": f.request_id, "request_company_id": f.company_id, "now": at,
         "reason": f.reason[:max_comment]} for f in failures])
    events: list[dict[str, Any]] = [{
        "at": at, "actor": f.actor.name, "action": "request.failed", "object_type": "request",
        "object_id": str(f.request_id), "company_id": f.company_id, "details": {"error": f.reason},
        "source_ip": f.actor.source_ip,
    } for f in failures]
    append_events(session, events)


_STILL_APPROVED = select(_REQUESTS.c.id).where(and_(_REQUESTS.c.id.in_(bindparam("ids", expanding=True)),
                                                    _REQUESTS.c.status == RequestStatus.APPROVED))
_LINK = (update(_CERTIFICATES)
         .where(and_(_CERTIFICATES.c.serial == bindparam("cert_serial"),
                     _CERTIFICATES.c.company_id == bindparam("cert_company_id"),
                     _CERTIFICATES.c.request_id.is_(None)))
         .values(request_id=bindparam("new_request_id")))


def still_approved(engine: Engine, request_ids: Sequence[int]) -> list[int]:
    """Which of these requests are `approved` still, in one read-only statement (no write lock on SQLite)."""
    with engine.connect() as connection:
        found = [int(i) for i in connection.execution_options(**READ_ONLY).execute(
            _STILL_APPROVED, {"ids": sorted(request_ids)}).scalars()]
        connection.rollback()
    return found


def link_issued(session: Session, issued: Sequence[tuple[int, int, Actor, str]], at: datetime) -> None:
    """(request id, company id, actor, serial) of certificates issued without their request's id: the
    certificate row names its request, the request turns `issued`, and `request.issued` is audited."""
    connection = session.connection()
    connection.execute(_LINK, [{"cert_serial": serial, "cert_company_id": company_id, "new_request_id": request_id}
                               for request_id, company_id, _actor, serial in issued])
    connection.execute(_MARK_ISSUED, [{"request_id": request_id, "request_company_id": company_id, "now": at}
                                      for request_id, company_id, _actor, _serial in issued])
    append_events(session, [{
        "at": at, "actor": actor.name, "action": "request.issued", "object_type": "request",
        "object_id": str(request_id), "company_id": company_id, "details": {"serial": serial},
        "source_ip": actor.source_ip,
    } for request_id, company_id, actor, serial in issued])

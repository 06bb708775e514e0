"""The two writes of an issuance as single Core statements (issue 14 §1): the ORM's unit of work costs more
than the SQL it runs, and these run once per certificate inside the group commit (ca.ledger.group_commit).
Same rows and rules as `store.add_pending_certificate` (kept for tests that build rows by hand)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.errors import ConflictError, NotFoundError, SerialCollisionError
from ca.ledger.audit import _PG_AUDIT_LOCK, GENESIS, _digest, canonical_json, chain_digest
from ca.ledger.models import AuditEvent, CertificateRecord, CertificateRequest
from ca.vocabulary import CertificateStatus, RequestStatus

_CERTIFICATES: Table = CertificateRecord.__table__  # type: ignore[assignment]
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]


_INSERT_PENDING = insert(_CERTIFICATES).returning(_CERTIFICATES.c.id)
_MARK_ISSUED = (update(_CERTIFICATES)
                .where(_CERTIFICATES.c.id == bindparam("row_id"),
                       _CERTIFICATES.c.status == CertificateStatus.PENDING)
                .values(der=bindparam("new_der"), sha256=bindparam("new_sha256"), status=CertificateStatus.ISSUED))
_AUDIT_HEAD = select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)
_INSERT_EVENT = insert(_EVENTS)
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def insert_pending(session: Session, **values: Any) -> int:
    """The intent row (status pending); a serial collision is a ConflictError (the caller draws again).
    Run on the session's connection with a statement built once (the ORM's execution layer is skipped), as
    a unit of the group committer: its SAVEPOINT, taken when a batch is replayed, scopes a collision to
    this row (ca.ledger.group_commit)."""
    try:
        row_id = session.connection().execute(_INSERT_PENDING,
                                              {"status": CertificateStatus.PENDING, **values}).scalar_one()
    except IntegrityError:
        raise SerialCollisionError("serial number collision") from None
    return int(row_id)


def mark_issued(session: Session, row_id: int, *, der: bytes) -> None:
    """pending → issued with the DER and its SHA-256, or ConflictError when the row is not pending. The
    conditional UPDATE locks the row and re-reads its status (PostgreSQL re-checks the WHERE after waiting),
    so an intent closed out by `pkictl db check --close-pending` meanwhile is never handed out."""
    result = session.connection().execute(_MARK_ISSUED, {"row_id": row_id, "new_der": der,
                                                         "new_sha256": hashlib.sha256(der).hexdigest()})
    if result.rowcount != 1:
        raise ConflictError("the certificate's intent is no longer pending (closed out by db check); "
                            "nothing was issued")


def append_event(session: Session, *, at: datetime, actor: str, action: str, object_type: str, object_id: str,
                 company_id: int | None = None, details: dict[str, Any] | None = None,
                 source_ip: str | None = None) -> None:
    """ca.ledger.audit.append_event as two statements: the same chained row, the same hash."""
    if session.new:
        session.flush()  # an event the ORM's append_event added in this transaction is the head to chain to
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_LOCK, {"key": _PG_AUDIT_LOCK})
    head = connection.execute(_AUDIT_HEAD).first()
    event = SimpleNamespace(
        id=(head.id + 1) if head else 1, at=at, actor=actor, action=action, company_id=company_id,
        object_type=object_type, object_id=str(object_id),
        details=json.dumps(details or {}, sort_keys=True, separators=(",", ":"), default=str),
        source_ip=source_ip, prev_hash=head.hash if head else GENESIS, hash="",
    )
    event.hash = _digest(event)  # type: ignore[arg-type]
    connection.execute(_INSERT_EVENT, vars(event))


_REQUESTS: Table = CertificateRequest.__table__  # type: ignore[assignment]
_INSERT_REQUEST = insert(_REQUESTS).returning(_REQUESTS.c.id)
_MARK_REQUEST_ISSUED = (update(_REQUESTS)
                        .where(_REQUESTS.c.id == bindparam("request_id"),
                               _REQUESTS.c.company_id == bindparam("request_company_id"))
                        .values(status=RequestStatus.ISSUED,
                                decided_at=func.coalesce(_REQUESTS.c.decided_at, bindparam("now"))))


def insert_request(session: Session, *, user_id: int, company_id: int, profile: str, csr_der: bytes | None,
                   status: str, at: datetime) -> int:
    """`portal_store.add_request` as one statement (the `auto` policy's request, recorded with the intent)."""
    return int(session.connection().execute(_INSERT_REQUEST, {
        "user_id": user_id, "company_id": company_id, "profile": profile, "csr_der": csr_der, "status": status,
        "created_at": at}).scalar_one())


def mark_request_issued(session: Session, *, company_id: int, request_id: int, at: datetime) -> None:
    """The request of the company → issued, its decision time kept (or `at` for one decided just now)."""
    result = session.connection().execute(_MARK_REQUEST_ISSUED, {
        "request_id": request_id, "request_company_id": company_id, "now": at})
    if result.rowcount != 1:
        raise NotFoundError(f"no certificate request #{request_id}")


# --- a batch of issuances (ca.issuance.issue_many): one statement per kind of row for the whole batch -----
# Run on the driver with SQL written once per dialect and each value passed through its column type's own
# bind processor (`TypeEngine.dialect_impl(...).bind_processor`, the conversion SQLAlchemy's compiled
# statements apply: UTCDateTime on SQLite, for one): the same rows as the Core statements above, without
# SQLAlchemy's per-row parameter processing, which costs more than the INSERT itself.
_PENDING_COLUMNS = ("issuer_id", "serial", "status", "profile", "subject", "not_before", "not_after",
                    "spki_sha256", "user_id", "company_id", "request_id", "created_at", "predecessor_id")
_EVENT_COLUMNS = ("id", "at", "actor", "action", "company_id", "object_type", "object_id", "details",
                  "source_ip", "prev_hash", "hash")
_ROWS_PER_STATEMENT = 200  # 13 parameters a row: far below SQLite's 32,766 (https://sqlite.org/limits.html §9)
_Processor = Callable[[Any], Any] | None
_PREPARED: dict[tuple[str, str], tuple[str, list[_Processor]]] = {}


def _prepared(connection: Connection, table: Table, columns: tuple[str, ...],
              kind: str) -> tuple[str, list[_Processor]]:
    """(SQL text, per-column bind processor) of `kind` for this dialect, made once."""
    dialect = connection.dialect
    key = (dialect.name, kind)
    prepared = _PREPARED.get(key)
    if prepared is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        processors: list[_Processor] = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                                        for name in columns]
        if kind == "pending":
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        elif kind == "issued":
            sql = (f"UPDATE {table.name} SET der = {mark}, sha256 = {mark}, status = {mark} "
                   f"WHERE id = {mark} AND status = {mark}")
        else:
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        prepared = _PREPARED[key] = (sql, processors)
    return prepared


class _Binder:
    """Rows as driver parameters: each value (a row is a sequence in the statement's column order) through its
    column's processor, each distinct processed value converted once per statement (the rows of a batch share
    their times). Columns without a processor (most, on both dialects) are taken as they are."""

    def __init__(self, processors: list[_Processor]) -> None:
        self._processed = [(index, process) for index, process in enumerate(processors) if process is not None]
        self._seen: list[dict[Any, Any]] = [{} for _ in processors]

    def __call__(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._processed:
            return row
        out = list(row)
        for index, process in self._processed:
            value = out[index]
            if value is not None:
                seen = self._seen[index]
                converted = seen.get(value, _MISSING)
                if converted is _MISSING:
                    converted = seen[value] = process(value)
                out[index] = converted
        return tuple(out)


_MISSING = object()


PENDING_COLUMNS = _PENDING_COLUMNS  # the order of a row of insert_pending_many


def insert_pending_many(session: Session, rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """The intent rows of a batch — each a sequence of values in PENDING_COLUMNS order, its status `pending` —
    as multi-row INSERT … RETURNING statements, their ids in the order of `rows` (RETURNING's own order is
    unspecified, https://sqlite.org/lang_returning.html §3: rows are matched by issuer and serial, unique
    together). A serial collision fails the statement — the caller's transaction is then rolled back whole
    and the batch draws again (SerialCollisionError), so no row of it is half-recorded."""
    if not rows:
        return []
    connection = session.connection()
    head, processors = _prepared(connection, _CERTIFICATES, _PENDING_COLUMNS, "pending")
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    one_row = f"({', '.join([mark] * len(_PENDING_COLUMNS))})"
    ids: dict[tuple[int, str], int] = {}
    bind = _Binder(processors)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        parameters: list[Any] = []
        for row in chunk:
            parameters.extend(bind(row))
        sql = head + ", ".join([one_row] * len(chunk)) + " RETURNING id, issuer_id, serial"
        try:
            returned = connection.exec_driver_sql(sql, tuple(parameters)).all()
        except IntegrityError:
            raise SerialCollisionError("serial number collision in a batch") from None
        ids.update({(int(issuer_id), serial): int(row_id) for row_id, issuer_id, serial in returned})
    return [ids[(int(row[0]), row[1])] for row in rows]


def mark_issued_many(session: Session, issued: list[tuple[int, bytes]]) -> None:
    """`mark_issued` for each (row id, DER) as one executemany; ConflictError when any row was not pending
    (the caller then stores them one by one, so that only that certificate is refused)."""
    if not issued:
        return
    connection = session.connection()
    sql, _processors = _prepared(connection, _CERTIFICATES, (), "issued")
    issued_status, pending_status = CertificateStatus.ISSUED.value, CertificateStatus.PENDING.value
    result = connection.exec_driver_sql(sql, [
        (der, hashlib.sha256(der).hexdigest(), issued_status, row_id, pending_status) for row_id, der in issued])
    if result.rowcount != len(issued):
        raise ConflictError("an intent of the batch is no longer pending (closed out by db check)")


def append_events(session: Session, events: list[dict[str, Any]]) -> None:
    """`append_event` for each of `events` (its keyword arguments), in order: the chain head is read once
    and the hashes chained here, then one executemany — the same rows and hashes as one call each. The
    values events share (time, actor, action, company, details…) are encoded once for the batch."""
    if not events:
        return
    if session.new:
        session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_LOCK, {"key": _PG_AUDIT_LOCK})
    head = connection.execute(_AUDIT_HEAD).first()
    next_id, previous = ((head.id + 1), head.hash) if head else (1, GENESIS)
    sql, processors = _prepared(connection, _EVENTS, _EVENT_COLUMNS, "events")
    rows = []
    bind = _Binder(processors)
    details_text: dict[int, tuple[object, str, str]] = {}  # details dicts the caller shares: encoded once
    # The canonical texts of (actor, action, company_id, object_type) — consecutive in the canonical order,
    # so kept joined — and of source_ip, each encoded once per distinct value.
    middles: dict[tuple[Any, ...], str] = {}
    addresses: dict[str | None, str] = {}
    last_at, at_text = None, ""
    for values in events:
        details = values.get("details") or {}
        kept = details_text.get(id(details))
        if kept is None or kept[0] is not details:
            text = json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)
            kept = details_text[id(details)] = (details, text, canonical_json(text))
        at = values["at"]
        if at is not last_at:
            last_at, at_text = at, canonical_json(at.isoformat())
        object_id = str(values["object_id"])
        company_id, source_ip = values.get("company_id"), values.get("source_ip")
        shared = (values["actor"], values["action"], company_id, values["object_type"])
        middle = middles.get(shared)
        if middle is None:
            middle = middles[shared] = ",".join(canonical_json(value) for value in shared)
        address = addresses.get(source_ip)
        if address is None:
            address = addresses[source_ip] = canonical_json(source_ip)
        # ca.ledger.audit.content_fields in their canonical_json texts, in order (some already joined).
        digest = chain_digest((str(next_id), at_text, middle, canonical_json(object_id), kept[2], address), previous)
        rows.append(bind((next_id, at, values["actor"], values["action"], company_id, values["object_type"],
                          object_id, kept[1], source_ip, previous, digest)))
        previous = digest
        next_id += 1
    connection.exec_driver_sql(sql, rows)

"""Store functions: `session` first, never commit (the use case owns the transaction, DESIGN §3)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text, type_coerce
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from ca.errors import ConflictError, NotFoundError, SerialCollisionError
from ca.ledger import crl_rows
from ca.ledger.models import (
    AuditEvent,
    BlockedKey,
    CertificateRecord,
    Company,
    CRLState,
    IssuerRecord,
    OCSPResponseRecord,
    User,
)
from ca.vocabulary import SIGNED_STATUSES, CertificateStatus, IssuerStatus
from ca.x509.crl import encode_revoked_entry


# --- companies -----------------------------------------------------------------------------------------
def add_company(session: Session, *, eic: str, name: str, at: datetime) -> Company:
    if session.execute(select(Company.id).where(Company.eic == eic)).first():
        raise ConflictError(f"a company with EIC {eic} already exists")
    company = Company(eic=eic, name=name, created_at=at, approval_policy="auto")
    session.add(company)
    session.flush()
    return company


def get_company_by_eic(session: Session, eic: str) -> Company:
    company = session.execute(select(Company).where(Company.eic == eic)).scalar_one_or_none()
    if company is None:
        raise NotFoundError(f"no company with EIC {eic}")
    return company


def get_company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFoundError(f"no company #{company_id}")
    return company


def list_companies(session: Session) -> list[Company]:
    return list(session.execute(select(Company).order_by(Company.eic)).scalars())


# --- users ---------------------------------------------------------------------------------------------
def add_user(
    session: Session, *, email: str, full_name: str, role: str, company_id: int | None, status: str, at: datetime
) -> User:
    if session.execute(select(User.id).where(func.lower(User.email) == email.lower())).first():
        raise ConflictError(f"a user with e-mail {email} already exists")
    user = User(email=email, full_name=full_name, role=role, company_id=company_id, status=status, created_at=at)
    session.add(user)
    session.flush()
    return user


def get_user_by_email(session: Session, email: str) -> User:
    user = session.execute(select(User).where(func.lower(User.email) == email.lower())).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user with e-mail {email}")
    return user


def list_users(session: Session, company_id: int | None = None) -> list[User]:
    query = select(User).order_by(User.email)
    if company_id is not None:
        query = query.where(User.company_id == company_id)
    return list(session.execute(query).scalars())


# --- issuers -------------------------------------------------------------------------------------------
def add_issuer(
    session: Session, *, name: str, certificate_der: bytes, root_der: bytes, key_ref: str, at: datetime
) -> IssuerRecord:
    if session.execute(select(IssuerRecord.id).where(IssuerRecord.name == name)).first():
        raise ConflictError(f"an issuer named {name!r} is already installed")
    record = IssuerRecord(
        name=name, certificate_der=certificate_der, root_der=root_der, key_ref=key_ref, status=IssuerStatus.ACTIVE,
        installed_at=at,
    )
    session.add(record)
    session.flush()
    return record


def list_issuers(session: Session) -> list[IssuerRecord]:
    return list(session.execute(select(IssuerRecord).order_by(IssuerRecord.id)).scalars())


def get_issuer_by_name(session: Session, name: str) -> IssuerRecord:
    record = session.execute(select(IssuerRecord).where(IssuerRecord.name == name)).scalar_one_or_none()
    if record is None:
        raise NotFoundError(f"no issuer named {name!r}")
    return record


def find_issuer_by_name(session: Session, name: str) -> IssuerRecord | None:
    return session.execute(select(IssuerRecord).where(IssuerRecord.name == name)).scalar_one_or_none()


def get_active_issuer(session: Session) -> IssuerRecord:
    """The newest active issuer signs new certificates (during a rollover the older one is retired)."""
    record = session.execute(
        select(IssuerRecord).where(IssuerRecord.status == IssuerStatus.ACTIVE).order_by(IssuerRecord.id.desc()).limit(1)
    ).scalar_one_or_none()
    if record is None:
        raise NotFoundError("no active issuer is installed: run `pkictl issuer create` and `pkictl issuer install`")
    return record


def mark_issuers_retired_except(session: Session, keep_id: int) -> list[IssuerRecord]:
    retired = []
    for record in session.execute(
        select(IssuerRecord).where(IssuerRecord.status == IssuerStatus.ACTIVE, IssuerRecord.id != keep_id)
    ).scalars():
        record.status = "retired"
        retired.append(record)
    session.flush()
    return retired


# --- certificates --------------------------------------------------------------------------------------
def add_pending_certificate(session: Session, record: CertificateRecord) -> CertificateRecord:
    """Insert the intent row; a serial collision surfaces as ConflictError so the caller draws again."""
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        raise SerialCollisionError("serial number collision") from None
    return record


def get_certificate(session: Session, serial: str, issuer_id: int | None = None) -> CertificateRecord:
    query = select(CertificateRecord).where(CertificateRecord.serial == serial)
    if issuer_id is not None:
        query = query.where(CertificateRecord.issuer_id == issuer_id)
    rows = list(session.execute(query).scalars())
    if not rows:
        raise NotFoundError(f"no certificate with serial {serial}")
    if len(rows) > 1:
        raise ConflictError(f"serial {serial} exists under several issuers; name the issuer")
    return rows[0]


def list_certificates(
    session: Session,
    *,
    company_id: int | None = None,
    user_id: int | None = None,
    status: str | None = None,
    now: datetime | None = None,
    limit: int | None = None,
) -> list[CertificateRecord]:
    """`status='expired'` means issued and past notAfter; `issued` then means issued and still valid."""
    query = select(CertificateRecord).order_by(CertificateRecord.id)
    if company_id is not None:
        query = query.where(CertificateRecord.company_id == company_id)
    if user_id is not None:
        query = query.where(CertificateRecord.user_id == user_id)
    if status == CertificateStatus.EXPIRED:
        query = query.where(CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.not_after < now)
    elif status == CertificateStatus.ISSUED and now is not None:
        query = query.where(CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.not_after >= now)
    elif status is not None:
        query = query.where(CertificateRecord.status == status)
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def iter_revoked_rows(
    session: Session, issuer_id: int, since: datetime | None = None, chunk: int = 20000
) -> Iterator[Sequence[tuple[str, str, str | None]]]:
    """Chunks of (serial hex, revoked_at as UTC text, 'YYYYMMDDHHMMSS' or 'YYYY-MM-DD HH:MM:SS', reason) for
    CRLs, which reach 10^6 rows: no per-row type processing. Served by a covering index (migration 0005), so
    the scan never touches the table. The full CRL (no `since`) reads through the driver's own cursor
    (ca.ledger.crl_rows); the delta's time bind needs SQLAlchemy's type processing, and its rows are few."""
    table = CertificateRecord.__table__
    query = select(table.c.serial, _compact_time(session, table.c.revoked_at), table.c.revocation_reason).where(
        table.c.issuer_id == issuer_id, table.c.status == str(CertificateStatus.REVOKED))
    if since is None:
        yield from crl_rows.driver_rows(session, query, chunk)
        return
    query = query.where(table.c.revoked_at >= since)
    result = session.connection().execute(query)
    while rows := result.fetchmany(chunk):
        yield rows


def _compact_time(session: Session, column: ColumnElement[datetime]) -> ColumnElement[str]:
    """revoked_at as UTC text the CRL encoder turns into a DER Time by slicing, so no datetime object is built
    per row: 'YYYYMMDDHHMMSS' computed by PostgreSQL; on SQLite the stored text's first 19 characters,
    'YYYY-MM-DD HH:MM:SS' (SQLAlchemy stores UTC ISO text there: strftime() would cost 1.5 µs a row, more
    than the rest of the read; ca.x509.crl.encode_revoked_rows drops the separators)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYYMMDDHH24MISS")
    return func.substr(type_coerce(column, NullType()), 1, 19)


TIME_SEPARATORS = str.maketrans("", "", "-: ")


def iter_revoked_entries(session: Session, issuer_id: int) -> Iterator[tuple[str, datetime, str | None]]:
    for rows in iter_revoked_rows(session, issuer_id):
        for serial, revoked_at, reason in rows:
            compact = revoked_at.translate(TIME_SEPARATORS)
            yield serial, datetime.strptime(compact, "%Y%m%d%H%M%S").replace(tzinfo=UTC), reason


# --- blocked keys --------------------------------------------------------------------------------------
def is_key_blocked(session: Session, spki_sha256: str) -> bool:
    return session.get(BlockedKey, spki_sha256) is not None


def add_blocked_key(session: Session, *, spki_sha256: str, reason: str, at: datetime) -> None:
    if session.get(BlockedKey, spki_sha256) is None:
        session.add(BlockedKey(spki_sha256=spki_sha256, reason=reason, blocked_at=at))
        session.flush()


# --- revocation ----------------------------------------------------------------------------------------
def mark_certificate_revoked(session: Session, record: CertificateRecord, *, at: datetime, reason: str) -> None:
    if record.status == CertificateStatus.REVOKED:
        when = f"{record.revoked_at:%Y-%m-%d %H:%M:%S} UTC" if record.revoked_at else "an earlier date"
        raise ConflictError(f"certificate {record.serial} was already revoked on {when}")
    record.status = "revoked"
    record.revoked_at = at
    record.revocation_reason = reason
    record.crl_entry = encode_revoked_entry(record.serial, at, reason)
    session.flush()


def list_live_certificates_with_key(session: Session, spki_sha256: str, now: datetime) -> list[CertificateRecord]:
    query = select(CertificateRecord).where(
        CertificateRecord.spki_sha256 == spki_sha256,
        CertificateRecord.status == CertificateStatus.ISSUED,
        CertificateRecord.not_after >= now,
    )
    return list(session.execute(query).scalars())


def list_unused_certificates(
    session: Session, *, cutoff: datetime, now: datetime, company_id: int | None = None, profile: str = "browser"
) -> list[CertificateRecord]:
    """Live certificates not used since `cutoff` (never used: issued before `cutoff`)."""
    from sqlalchemy import and_, or_

    query = select(CertificateRecord).where(
        CertificateRecord.status == CertificateStatus.ISSUED,
        CertificateRecord.not_after >= now,
        CertificateRecord.profile == profile,
        or_(
            CertificateRecord.last_used_at < cutoff,
            and_(CertificateRecord.last_used_at.is_(None), CertificateRecord.not_before < cutoff),
        ),
    ).order_by(CertificateRecord.id)
    if company_id is not None:
        query = query.where(CertificateRecord.company_id == company_id)
    return list(session.execute(query).scalars())


def lock_issuer_crls(session: Session, issuer_id: int) -> None:
    """Serialise CRL publication per issuer until the transaction ends (SQLite: IMMEDIATE already does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": 0x43524C, "b": issuer_id})


def lock_crl_state(session: Session, issuer_id: int, kind: str) -> CRLState | None:
    """Row lock on PostgreSQL (SQLite transactions are IMMEDIATE, hence already exclusive)."""
    query = select(CRLState).where(CRLState.issuer_id == issuer_id, CRLState.kind == kind).with_for_update()
    return session.execute(query).scalar_one_or_none()


def highest_crl_number(session: Session, issuer_id: int) -> int:
    """Full and delta CRLs share one number sequence (RFC 5280 §5.2.3, §5.2.4)."""
    value = session.execute(select(func.max(CRLState.crl_number)).where(CRLState.issuer_id == issuer_id)).scalar()
    return int(value or 0)


def save_crl_state(
    session: Session, *, issuer_id: int, kind: str, crl_number: int, this_update: datetime, next_update: datetime
) -> None:
    state = session.get(CRLState, (issuer_id, kind))
    if state is None:
        state = CRLState(issuer_id=issuer_id, kind=kind)
        session.add(state)
    state.crl_number = crl_number
    state.this_update = this_update
    state.next_update = next_update
    state.dirty = False
    session.flush()


def mark_crl_dirty(session: Session, issuer_id: int) -> None:
    for state in session.execute(select(CRLState).where(CRLState.issuer_id == issuer_id)).scalars():
        state.dirty = True
    session.flush()


def list_crl_states(session: Session) -> list[CRLState]:
    return list(session.execute(select(CRLState)).scalars())


def count_live_certificates(session: Session, issuer_id: int, now: datetime) -> tuple[int, datetime | None]:
    row = session.execute(
        select(func.count(), func.max(CertificateRecord.not_after)).where(
            CertificateRecord.issuer_id == issuer_id, CertificateRecord.status == CertificateStatus.ISSUED,
            CertificateRecord.not_after >= now, CertificateRecord.profile != "ocsp-responder",
        )
    ).one()
    return int(row[0]), row[1]


# --- OCSP ----------------------------------------------------------------------------------------------
def get_certificate_status(session: Session, issuer_id: int, serial: str, *,
                           lock: bool = False) -> CertificateRecord | None:
    """(issuer, serial) is unique (RFC 5280 §4.1.2.2). `lock` takes a shared row lock (PostgreSQL) so that a
    status being pre-signed cannot be revoked until the answer is stored — and the revocation then deletes
    it — instead of a stale `good` answer landing after the revocation's commit (SQLite serialises writers)."""
    query = select(CertificateRecord).where(CertificateRecord.issuer_id == issuer_id,
                                            CertificateRecord.serial == serial)
    if lock:
        query = query.with_for_update(read=True)
    return session.execute(query).scalar_one_or_none()


def latest_responder(session: Session, issuer_id: int, now: datetime) -> CertificateRecord | None:
    return session.execute(
        select(CertificateRecord).where(
            CertificateRecord.issuer_id == issuer_id, CertificateRecord.profile == "ocsp-responder",
            CertificateRecord.status == CertificateStatus.ISSUED, CertificateRecord.not_after > now,
            CertificateRecord.not_before <= now,  # not one issued "in the future" before a wall-clock step back
        ).order_by(CertificateRecord.not_after.desc()).limit(1)
    ).scalar_one_or_none()


def put_ocsp_response(
    session: Session, *, issuer_id: int, serial: str, hash_name: str, der: bytes, this_update: datetime,
    next_update: datetime,
) -> None:
    """Insert or replace in one statement (ON CONFLICT DO UPDATE, PostgreSQL and SQLite ≥ 3.24): two
    pre-signers storing the same answer at once (a responder's refresh and a maintenance pass) never collide
    on the primary key."""
    values = {"issuer_id": issuer_id, "serial": serial, "hash_name": hash_name, "der": der,
              "this_update": this_update, "next_update": next_update}
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(OCSPResponseRecord).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["issuer_id", "serial", "hash_name"],
        set_={"der": statement.excluded.der, "this_update": statement.excluded.this_update,
              "next_update": statement.excluded.next_update},
    )
    session.execute(statement)


def get_ocsp_response(session: Session, issuer_id: int, serial: str, hash_name: str) -> OCSPResponseRecord | None:
    return session.get(OCSPResponseRecord, (issuer_id, serial, hash_name))


def delete_ocsp_responses(session: Session, issuer_id: int, serial: str) -> None:
    session.execute(delete(OCSPResponseRecord).where(
        OCSPResponseRecord.issuer_id == issuer_id, OCSPResponseRecord.serial == serial))


def list_live_serials(session: Session, issuer_id: int, now: datetime) -> list[str]:
    """Serials whose OCSP answer matters: issued or revoked, not expired."""
    return list(session.execute(
        select(CertificateRecord.serial).where(
            CertificateRecord.issuer_id == issuer_id, CertificateRecord.status.in_(SIGNED_STATUSES),
            CertificateRecord.not_after >= now,
        )
    ).scalars())


def changes_since(session: Session, after_event_id: int) -> tuple[int, list[tuple[str, str]]]:
    """The audit trail doubles as a change feed: (last event id, [(action, object_id)]) of status changes."""
    rows = session.execute(
        select(AuditEvent.id, AuditEvent.action, AuditEvent.object_id)
        .where(AuditEvent.id > after_event_id).order_by(AuditEvent.id)
    ).all()
    last = rows[-1][0] if rows else after_event_id
    return last, [(r[1], r[2]) for r in rows if r[1] in ("certificate.revoked", "certificate.issued",
                                                           "issuer.installed", "issuer.retired")]


def last_event_id(session: Session) -> int:
    return int(session.execute(select(func.max(AuditEvent.id))).scalar() or 0)


def set_issuer_status(session: Session, record: IssuerRecord, status: str) -> None:
    if status not in tuple(IssuerStatus):
        raise ValueError(f"unknown issuer status {status!r}")
    record.status = status
    session.flush()

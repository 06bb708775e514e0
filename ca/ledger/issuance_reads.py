"""The reads an issuance needs before its intent (issue 14 §1), in one read-only transaction of two Core
statements: the user with its company and whether the key is blocked, then the issuer.

The transaction is marked read-only (`READ_ONLY`), so on SQLite it begins DEFERRED and takes no write lock:
the write lock is what the group committer holds while it commits, and a read behind it would wait for that
commit for nothing. A read-only transaction never upgrades to a writer, so the SQLITE_BUSY upgrade deadlock
that IMMEDIATE avoids for writers (SQLite "Transaction" §2.1, https://sqlite.org/lang_transaction.html)
cannot occur; WAL readers see the last committed snapshot (https://sqlite.org/wal.html §2.2). Nothing is
cached across issuances: a deactivated user, a blocked key or a retired issuer is refused on the very next
request, from any process.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, bindparam, exists, func, literal, select
from sqlalchemy.engine import Connection, Engine

from ca.errors import NotFoundError
from ca.ledger import database
from ca.ledger.models import BlockedKey, Company, IssuerRecord, User
from ca.vocabulary import IssuerStatus

READ_ONLY = {database.READ_ONLY: True}  # the execution options of a read-only transaction

_USERS: Table = User.__table__  # type: ignore[assignment]
_COMPANIES: Table = Company.__table__  # type: ignore[assignment]
_ISSUERS: Table = IssuerRecord.__table__  # type: ignore[assignment]
_BLOCKED: Table = BlockedKey.__table__  # type: ignore[assignment]

_BLOCKED_EXISTS = exists().where(_BLOCKED.c.spki_sha256 == bindparam("spki")).label("blocked")
_USER_AND_COMPANY = (
    select(_USERS.c.id, _USERS.c.email, _USERS.c.full_name, _USERS.c.status, _USERS.c.company_id,
           _COMPANIES.c.name.label("company_name"), _COMPANIES.c.eic.label("company_eic"), _BLOCKED_EXISTS)
    .select_from(_USERS.outerjoin(_COMPANIES, _COMPANIES.c.id == _USERS.c.company_id))
    .where(func.lower(_USERS.c.email) == func.lower(bindparam("email")))
)
_ONLY_BLOCKED = select(literal(1), _BLOCKED_EXISTS)
_COMPANY_BY_ID = select(_COMPANIES.c.id, _COMPANIES.c.name, _COMPANIES.c.eic).where(
    _COMPANIES.c.id == bindparam("company_id"))
_ISSUER_COLUMNS = (_ISSUERS.c.id, _ISSUERS.c.name, _ISSUERS.c.certificate_der, _ISSUERS.c.root_der,
                   _ISSUERS.c.status, _ISSUERS.c.key_ref)
_ISSUER_BY_NAME = select(*_ISSUER_COLUMNS).where(_ISSUERS.c.name == bindparam("name"))
_ACTIVE_ISSUER = (select(*_ISSUER_COLUMNS).where(_ISSUERS.c.status == IssuerStatus.ACTIVE)
                  .order_by(_ISSUERS.c.id.desc()).limit(1))


@dataclass(frozen=True)
class UserFacts:
    id: int
    email: str
    full_name: str
    status: str
    company_id: int | None


@dataclass(frozen=True)
class CompanyFacts:
    id: int
    name: str
    eic: str


@dataclass(frozen=True)
class IssuerFacts:
    id: int
    name: str
    certificate_der: bytes
    root_der: bytes
    status: str
    key_ref: str


@dataclass(frozen=True)
class IssuanceFacts:
    user: UserFacts | None
    company: CompanyFacts | None
    key_blocked: bool
    issuer: IssuerFacts


def read_issuance_facts(engine: Engine, *, user_email: str | None, spki_sha256: str,
                        issuer_name: str | None, company_id: int | None = None) -> IssuanceFacts:
    """NotFoundError for an unknown user, company or issuer (as store.get_user_by_email / get_issuer_by_name).
    `company_id` names the company of a certificate without a holder (a server's, by ACME: issue 12)."""
    with engine.connect() as connection:
        connection = connection.execution_options(**READ_ONLY)
        user = company = None
        if user_email:
            row = connection.execute(_USER_AND_COMPANY, {"email": user_email, "spki": spki_sha256}).first()
            if row is None:
                raise NotFoundError(f"no user with e-mail {user_email}")
            user = UserFacts(row.id, row.email, row.full_name, row.status, row.company_id)
            if row.company_id is not None:
                company = CompanyFacts(row.company_id, row.company_name, row.company_eic)
        else:
            row = connection.execute(_ONLY_BLOCKED, {"spki": spki_sha256}).one()
            if company_id is not None:
                company_row = connection.execute(_COMPANY_BY_ID, {"company_id": company_id}).first()
                if company_row is None:
                    raise NotFoundError(f"no company with id {company_id}")
                company = CompanyFacts(company_row.id, company_row.name, company_row.eic)
        blocked = bool(row.blocked)
        issuer = _issuer_facts(connection, issuer_name)
        connection.rollback()
    if isinstance(issuer, NotFoundError):
        raise issuer
    return IssuanceFacts(user, company, blocked, issuer)


@dataclass(frozen=True)
class FactsQuery:
    """What `read_issuance_facts` is asked for one issuance of a batch."""

    user_email: str | None
    spki_sha256: str
    issuer_name: str | None
    company_id: int | None = None


_BLOCKED_AMONG = select(_BLOCKED.c.spki_sha256).where(_BLOCKED.c.spki_sha256.in_(bindparam("spkis", expanding=True)))
_USER_ROW = (
    select(_USERS.c.id, _USERS.c.email, _USERS.c.full_name, _USERS.c.status, _USERS.c.company_id,
           _COMPANIES.c.name.label("company_name"), _COMPANIES.c.eic.label("company_eic"))
    .select_from(_USERS.outerjoin(_COMPANIES, _COMPANIES.c.id == _USERS.c.company_id))
    .where(func.lower(_USERS.c.email) == func.lower(bindparam("email")))
)


def read_batch_facts(engine: Engine, queries: list[FactsQuery]) -> list[IssuanceFacts | NotFoundError]:
    """`read_issuance_facts` for every query of a batch (ca.issuance.issue_many), in one read-only transaction:
    one snapshot, so a user, company or issuer named twice is read once; the blocked keys in one query. An
    unknown name is that query's own NotFoundError (the same message), the others are unaffected."""
    out: list[IssuanceFacts | NotFoundError] = []
    with engine.connect() as connection:
        connection = connection.execution_options(**READ_ONLY)
        blocked = set(connection.execute(_BLOCKED_AMONG, {"spkis": sorted({q.spki_sha256 for q in queries})})
                      .scalars()) if queries else set()
        users: dict[str, tuple[UserFacts, CompanyFacts | None] | NotFoundError] = {}
        companies: dict[int, CompanyFacts | NotFoundError] = {}
        issuers: dict[str | None, IssuerFacts | NotFoundError] = {}
        for query in queries:
            user = company = None
            if query.user_email:
                found = users.get(query.user_email.lower())
                if found is None:
                    row = connection.execute(_USER_ROW, {"email": query.user_email}).first()
                    found = NotFoundError(f"no user with e-mail {query.user_email}") if row is None else (
                        UserFacts(row.id, row.email, row.full_name, row.status, row.company_id),
                        None if row.company_id is None else CompanyFacts(row.company_id, row.company_name,
                                                                         row.company_eic))
                    users[query.user_email.lower()] = found
                if isinstance(found, NotFoundError):
                    out.append(found)
                    continue
                user, company = found
            elif query.company_id is not None:
                found_company = companies.get(query.company_id)
                if found_company is None:
                    company_row = connection.execute(_COMPANY_BY_ID, {"company_id": query.company_id}).first()
                    found_company = companies[query.company_id] = (
                        NotFoundError(f"no company with id {query.company_id}") if company_row is None
                        else CompanyFacts(company_row.id, company_row.name, company_row.eic))
                if isinstance(found_company, NotFoundError):
                    out.append(found_company)
                    continue
                company = found_company
            issuer = issuers.get(query.issuer_name)
            if issuer is None:
                issuer = issuers[query.issuer_name] = _issuer_facts(connection, query.issuer_name)
            if isinstance(issuer, NotFoundError):
                out.append(issuer)
                continue
            out.append(IssuanceFacts(user, company, query.spki_sha256 in blocked, issuer))
        connection.rollback()
    return out


def _issuer_facts(connection: Connection, issuer_name: str | None) -> IssuerFacts | NotFoundError:
    if issuer_name:
        row = connection.execute(_ISSUER_BY_NAME, {"name": issuer_name}).first()
        if row is None:
            return NotFoundError(f"no issuer named {issuer_name!r}")
    else:
        row = connection.execute(_ACTIVE_ISSUER).first()
        if row is None:
            return NotFoundError("no active issuer is installed: run `pkictl issuer create` and "
                                 "`pkictl issuer install`")
    return IssuerFacts(*row)

"""Store functions of the portal (issue 4): `session` first, never commit (DESIGN §3).

Every list function takes the company it is scoped to as an explicit argument; the use cases decide it
from the Actor, so a query can never forget the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from types import EllipsisType

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.errors import ConflictError, NotFoundError
from ca.ledger.models import (
    CertificateRecord,
    CertificateRequest,
    Company,
    ConnectionPoint,
    Group,
    GroupMember,
    GroupPerimeter,
    GroupService,
    Service,
    User,
)
from ca.ledger.portal_models import ActivationToken, PortalSession
from ca.vocabulary import SIGNED_STATUSES, CertificateStatus, RequestStatus, Role, UserStatus


# --- users ---------------------------------------------------------------------------------------------
def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user #{user_id}")
    return user


def map_user_emails(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """user id → e-mail address for the given ids, in one query."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {row[0]: row[1] for row in session.execute(select(User.id, User.email).where(User.id.in_(ids)))}


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(func.lower(User.email) == email.lower())).scalar_one_or_none()


def mark_user(
    session: Session, user: User, *, status: str | None = None, role: str | None = None,
    company_id: int | None | EllipsisType = ..., password_hash: str | None = None,
) -> User:
    """Change a user's status, role, company (None detaches) or password hash."""
    if status is not None:
        user.status = status
    if role is not None:
        user.role = role
    if not isinstance(company_id, EllipsisType):
        user.company_id = company_id
    if password_hash is not None:
        user.password_hash = password_hash
    session.flush()
    return user


def mark_user_restarted(session: Session, user: User, *, full_name: str, role: str, company_id: int | None,
                        status: str, at: datetime) -> User:
    """Start an account again from nothing (a stale or unconfirmed sign-up taken over): no password, new
    name, role, company and creation time; the caller retires its links and sessions."""
    user.full_name = full_name
    user.role = role
    user.company_id = company_id
    user.status = status
    user.password_hash = None
    user.created_at = at
    session.flush()
    return user


def list_company_users(session: Session, company_id: int) -> list[User]:
    return list(session.execute(select(User).where(User.company_id == company_id).order_by(User.email)).scalars())


def list_company_admins(session: Session, company_id: int) -> list[User]:
    query = select(User).where(User.company_id == company_id, User.role.in_((Role.FIRST_ADMIN, Role.ADMIN)),
                               User.status == UserStatus.ACTIVE).order_by(User.email)
    return list(session.execute(query).scalars())


def mark_company_policy(session: Session, company: Company, policy: str) -> None:
    company.approval_policy = policy
    session.flush()


# --- activation links ----------------------------------------------------------------------------------
def add_token(
    session: Session, *, token_sha256: str, user_id: int, purpose: str, at: datetime, expires_at: datetime
) -> ActivationToken:
    token = ActivationToken(token_sha256=token_sha256, user_id=user_id, purpose=purpose, created_at=at,
                            expires_at=expires_at)
    session.add(token)
    session.flush()
    return token


def find_token(session: Session, token_sha256: str) -> ActivationToken | None:
    return session.execute(
        select(ActivationToken).where(ActivationToken.token_sha256 == token_sha256)
    ).scalar_one_or_none()


def mark_tokens_used(session: Session, user_id: int, at: datetime) -> None:
    """Using (or re-sending) a link retires every other link of the user: only the newest one works."""
    session.execute(update(ActivationToken).where(
        ActivationToken.user_id == user_id, ActivationToken.used_at.is_(None)).values(used_at=at))
    session.flush()


# --- login sessions ------------------------------------------------------------------------------------
def add_portal_session(session: Session, *, id_sha256: str, user_id: int, at: datetime,
                       source_ip: str | None) -> PortalSession:
    record = PortalSession(id_sha256=id_sha256, user_id=user_id, created_at=at, last_seen_at=at,
                           source_ip=source_ip)
    session.add(record)
    session.flush()
    return record


def get_portal_session(session: Session, id_sha256: str) -> PortalSession | None:
    return session.get(PortalSession, id_sha256)


def touch_portal_session(session: Session, record: PortalSession, at: datetime) -> None:
    record.last_seen_at = at
    session.flush()


def end_portal_session(session: Session, record: PortalSession, at: datetime) -> None:
    if record.ended_at is None:
        record.ended_at = at
        session.flush()


def end_user_sessions(session: Session, user_id: int, at: datetime) -> int:
    result = session.execute(update(PortalSession).where(
        PortalSession.user_id == user_id, PortalSession.ended_at.is_(None)).values(ended_at=at))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


# --- services ------------------------------------------------------------------------------------------
def list_services(session: Session) -> list[Service]:
    return list(session.execute(select(Service).order_by(Service.code)).scalars())


def put_service(session: Session, *, code: str, name: str) -> bool:
    """Insert or rename; True when something changed."""
    service = session.get(Service, code)
    if service is None:
        session.add(Service(code=code, name=name))
    elif service.name != name:
        service.name = name
    else:
        return False
    try:
        session.flush()
    except IntegrityError:  # the same code inserted at the same moment by another process (workers starting)
        raise ConflictError(f"service {code} was defined concurrently") from None
    return True


# --- connection points ---------------------------------------------------------------------------------
def add_connection_point(session: Session, *, company_id: int, code: str, label: str) -> ConnectionPoint:
    exists = select(ConnectionPoint.id).where(ConnectionPoint.company_id == company_id, ConnectionPoint.code == code)
    if session.execute(exists).first():
        raise ConflictError(f"connection point {code} already exists")
    point = ConnectionPoint(company_id=company_id, code=code, label=label)
    session.add(point)
    session.flush()
    return point


def list_connection_points(session: Session, company_id: int) -> list[ConnectionPoint]:
    query = select(ConnectionPoint).where(ConnectionPoint.company_id == company_id).order_by(ConnectionPoint.code)
    return list(session.execute(query).scalars())


# --- groups --------------------------------------------------------------------------------------------
def _check_group_name_free(session: Session, company_id: int, name: str, except_id: int | None = None) -> None:
    """Group names are unique per company whatever their case. Compared in Python (str.casefold): SQLite's
    lower() folds ASCII only, so `ÉNERGIE` would not meet itself in SQL (found by make fuzz)."""
    wanted = name.casefold()
    rows = session.execute(select(Group.id, Group.name).where(Group.company_id == company_id))
    if any(row.name.casefold() == wanted and row.id != except_id for row in rows):
        raise ConflictError(f"a group named {name!r} already exists")


def _flush_group(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:  # a concurrent creation of the same name: the unique constraint decides
        raise ConflictError(f"a group named {name!r} already exists") from None


def add_group(session: Session, *, company_id: int, name: str) -> Group:
    _check_group_name_free(session, company_id, name)
    group = Group(company_id=company_id, name=name)
    session.add(group)
    _flush_group(session, name)
    return group


def rename_group(session: Session, group: Group, name: str) -> None:
    _check_group_name_free(session, group.company_id, name, except_id=group.id)
    group.name = name
    _flush_group(session, name)


def get_company_group(session: Session, company_id: int, group_id: int) -> Group:
    """The tenant is part of the lookup: another company's group is simply not found (ASVS 8.4.1)."""
    group = session.execute(
        select(Group).where(Group.id == group_id, Group.company_id == company_id)
    ).scalar_one_or_none()
    if group is None:
        raise NotFoundError(f"no group #{group_id}")
    return group


def list_groups(session: Session, company_id: int) -> list[Group]:
    return list(session.execute(select(Group).where(Group.company_id == company_id).order_by(Group.name)).scalars())


def delete_group(session: Session, group: Group) -> None:
    for table in (GroupMember, GroupService, GroupPerimeter):
        session.execute(delete(table).where(table.group_id == group.id))
    session.delete(group)
    session.flush()


def add_member(session: Session, group_id: int, user_id: int) -> bool:
    if session.get(GroupMember, (group_id, user_id)) is not None:
        return False
    session.add(GroupMember(group_id=group_id, user_id=user_id))
    session.flush()
    return True


def remove_member(session: Session, group_id: int, user_id: int) -> bool:
    member = session.get(GroupMember, (group_id, user_id))
    if member is None:
        return False
    session.delete(member)
    session.flush()
    return True


def remove_user_from_groups(session: Session, user_id: int) -> int:
    result = session.execute(delete(GroupMember).where(GroupMember.user_id == user_id))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def list_member_ids(session: Session, group_id: int) -> list[int]:
    return list(session.execute(select(GroupMember.user_id).where(GroupMember.group_id == group_id)).scalars())


def list_group_service_codes(session: Session, group_id: int) -> list[str]:
    query = select(GroupService.service_code).where(GroupService.group_id == group_id).order_by(
        GroupService.service_code)
    return list(session.execute(query).scalars())


def list_group_point_ids(session: Session, group_id: int) -> list[int]:
    query = select(GroupPerimeter.connection_point_id).where(GroupPerimeter.group_id == group_id)
    return list(session.execute(query).scalars())


def set_group_services(session: Session, group_id: int, codes: Iterable[str]) -> None:
    session.execute(delete(GroupService).where(GroupService.group_id == group_id))
    for code in sorted(set(codes)):
        session.add(GroupService(group_id=group_id, service_code=code))
    session.flush()


def set_group_perimeter(session: Session, group_id: int, point_ids: Iterable[int]) -> None:
    session.execute(delete(GroupPerimeter).where(GroupPerimeter.group_id == group_id))
    for point_id in sorted(set(point_ids)):
        session.add(GroupPerimeter(group_id=group_id, connection_point_id=point_id))
    session.flush()


# --- certificate requests ------------------------------------------------------------------------------
def add_request(
    session: Session, *, user_id: int, company_id: int, profile: str, csr_der: bytes | None, status: str,
    at: datetime,
) -> CertificateRequest:
    request = CertificateRequest(user_id=user_id, company_id=company_id, profile=profile, csr_der=csr_der,
                                 status=status, created_at=at)
    session.add(request)
    session.flush()
    return request


def get_company_request(session: Session, company_id: int, request_id: int) -> CertificateRequest:
    """Row-locked on PostgreSQL, so two administrators cannot both decide (SQLite: IMMEDIATE transactions)."""
    request = session.execute(select(CertificateRequest).where(
        CertificateRequest.id == request_id, CertificateRequest.company_id == company_id).with_for_update()
    ).scalar_one_or_none()
    if request is None:
        raise NotFoundError(f"no certificate request #{request_id}")
    return request


def mark_request(session: Session, request: CertificateRequest, *, status: str, at: datetime | None = None,
                 comment: str | None = None) -> CertificateRequest:
    request.status = status
    if at is not None:
        request.decided_at = at
    if comment is not None:
        request.comment = comment
    session.flush()
    return request


def list_requests(session: Session, *, company_id: int, user_id: int | None = None,
                  status: str | None = None) -> list[CertificateRequest]:
    query = select(CertificateRequest).where(CertificateRequest.company_id == company_id)
    if user_id is not None:
        query = query.where(CertificateRequest.user_id == user_id)
    if status is not None:
        query = query.where(CertificateRequest.status == status)
    return list(session.execute(query.order_by(CertificateRequest.id.desc())).scalars())


def reject_open_requests(session: Session, *, user_id: int, company_id: int, at: datetime, comment: str) -> int:
    """A detached user's waiting requests are closed with them."""
    count = 0
    for request in list_requests(session, company_id=company_id, user_id=user_id):
        if request.status in (RequestStatus.PENDING, RequestStatus.APPROVED):
            mark_request(session, request, status=RequestStatus.REJECTED, at=at, comment=comment)
            count += 1
    return count


# --- certificates --------------------------------------------------------------------------------------
def list_user_certificates(session: Session, *, user_id: int, company_id: int) -> list[CertificateRecord]:
    query = select(CertificateRecord).where(
        CertificateRecord.user_id == user_id, CertificateRecord.company_id == company_id,
        CertificateRecord.status.in_(SIGNED_STATUSES),
    ).order_by(CertificateRecord.id.desc())
    return list(session.execute(query).scalars())


def list_live_user_certificates(session: Session, *, user_id: int, company_id: int) -> list[CertificateRecord]:
    """Issued and not revoked (expired ones included: revoking them costs nothing and says the truth)."""
    query = select(CertificateRecord).where(
        CertificateRecord.user_id == user_id, CertificateRecord.company_id == company_id,
        CertificateRecord.status == CertificateStatus.ISSUED,
    ).order_by(CertificateRecord.id)
    return list(session.execute(query).scalars())


def list_request_certificates(session: Session, request_ids: Iterable[int]) -> dict[int, str]:
    ids = list(request_ids)
    if not ids:
        return {}
    query = select(CertificateRecord.request_id, CertificateRecord.serial).where(
        CertificateRecord.request_id.in_(ids), CertificateRecord.status.in_(SIGNED_STATUSES))
    return {row[0]: row[1] for row in session.execute(query) if row[0] is not None}


def find_certificate_by_der_hash(session: Session, sha256: str) -> CertificateRecord | None:
    return session.execute(select(CertificateRecord).where(CertificateRecord.sha256 == sha256)).scalar_one_or_none()

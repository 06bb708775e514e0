"""Store functions of the front-office gate (issue 5): `session` first, never commit (DESIGN §3).

The gate's questions are read-only and hot, so each is one indexed query; the only write is the
conditional `last_used_at` update, which is a no-op when another process wrote it within the interval.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ca.ledger.models import (
    CertificateRecord,
    Company,
    ConnectionPoint,
    Group,
    GroupMember,
    GroupPerimeter,
    GroupService,
    IssuerRecord,
    Service,
    User,
)


def list_gate_issuers(session: Session) -> list[IssuerRecord]:
    """Every issuer whatever its status: the gate tells `removed` from unknown."""
    return list(session.execute(select(IssuerRecord).order_by(IssuerRecord.id)).scalars())


def get_holder(session: Session, user_id: int) -> tuple[User, Company | None] | None:
    """The user and the company they belong to *now* (None once detached)."""
    row = session.execute(
        select(User, Company).outerjoin(Company, Company.id == User.company_id).where(User.id == user_id)
    ).first()
    return None if row is None else (row[0], row[1])


def list_granted_services(session: Session, *, user_id: int, company_id: int) -> list[Service]:
    """Services granted by any group of `company_id` the user is a member of (a former company's groups
    grant nothing)."""
    query = (
        select(Service)
        .join(GroupService, GroupService.service_code == Service.code)
        .join(Group, Group.id == GroupService.group_id)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user_id, Group.company_id == company_id)
        .distinct()
        .order_by(Service.code)
    )
    return list(session.execute(query).scalars())


def get_service(session: Session, code: str) -> Service | None:
    return session.get(Service, code)


def list_service_perimeter(
    session: Session, *, user_id: int, company_id: int, service_code: str
) -> list[ConnectionPoint]:
    """The union of the perimeters of the user's groups that grant `service_code`, in the company."""
    granting = (
        select(Group.id)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .join(GroupService, GroupService.group_id == Group.id)
        .where(GroupMember.user_id == user_id, Group.company_id == company_id,
               GroupService.service_code == service_code)
    )
    query = (
        select(ConnectionPoint)
        .join(GroupPerimeter, GroupPerimeter.connection_point_id == ConnectionPoint.id)
        .where(GroupPerimeter.group_id.in_(granting), ConnectionPoint.company_id == company_id)
        .distinct()
        .order_by(ConnectionPoint.code)
    )
    return list(session.execute(query).scalars())


def mark_certificate_used(session: Session, certificate_id: int, *, at: datetime, not_since: datetime) -> bool:
    """Set last_used_at = `at` unless it is already at or after `not_since`; True when a row changed."""
    result = session.execute(
        update(CertificateRecord)
        .where(CertificateRecord.id == certificate_id,
               or_(CertificateRecord.last_used_at.is_(None), CertificateRecord.last_used_at < not_since))
        .values(last_used_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))

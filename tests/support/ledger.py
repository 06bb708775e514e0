"""Counting ledger rows, so every failure test can assert that nothing changed."""

from __future__ import annotations

from sqlalchemy import func, select

from ca.ledger.models import AuditEvent, CertificateRecord, Company, User
from ca.runtime import Runtime


def snapshot(runtime: Runtime) -> dict[str, int]:
    with runtime.sessionmaker() as session:
        return {
            model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (CertificateRecord, AuditEvent, Company, User)
        }

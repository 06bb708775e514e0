"""Ledger tables of the enrollment portal (issue 4): activation links and login sessions.

Secrets are never stored: a link token and a session id are kept as their SHA-256, so a copy of the
database lets nobody activate an account or ride a session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ca.ledger.models import Base, CertificateRecord, CertificateRequest, UTCDateTime


class ActivationToken(Base):
    """An e-mailed link: `activate` (set the first password) or `confirm` (prove a signed-up address)."""

    __tablename__ = "activation_tokens"
    __table_args__ = (Index("ix_activation_tokens_user", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PortalSession(Base):
    """A server-side login session (ASVS V7): ended at logout, detachment or password change."""

    __tablename__ = "portal_sessions"
    __table_args__ = (Index("ix_portal_sessions_user", "user_id"),)
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


# The administrator's queue lists requests per company and state.
Index("ix_certificate_requests_company_status", CertificateRequest.company_id, CertificateRequest.status)
# API clients authenticating with their certificate are found by the certificate's SHA-256.
Index("ix_certificates_sha256", CertificateRecord.sha256)

"""Typed SQLAlchemy 2 models of the ledger (issue 2 §8).

Times are stored UTC-aware (`DateTime(timezone=True)`); SQLite drops the zone, so `utc()` restores it on read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Refuses naive datetimes on write and returns aware ones on read, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to the ledger")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Company(Base):
    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    eic: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # 'auto': certificate requests are approved at once; 'manual': an administrator decides.
    approval_policy: Mapped[str] = mapped_column(String(16), default="auto")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(64))
    # operator | first-admin | admin | user
    role: Mapped[str] = mapped_column(String(16))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), nullable=True)
    # pending (waits for activation) | active | deactivated
    status: Mapped[str] = mapped_column(String(16), default="active")
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The portal language the person chose (ca.locales); None: their browser's Accept-Language decides.
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("company_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    name: Mapped[str] = mapped_column(String(64))


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class Service(Base):
    __tablename__ = "services"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))


class GroupService(Base):
    __tablename__ = "group_services"
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"), primary_key=True)


class ConnectionPoint(Base):
    __tablename__ = "connection_points"
    __table_args__ = (UniqueConstraint("company_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(128))


class GroupPerimeter(Base):
    __tablename__ = "group_perimeter"
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    connection_point_id: Mapped[int] = mapped_column(ForeignKey("connection_points.id"), primary_key=True)


class IssuerRecord(Base):
    __tablename__ = "issuers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    root_der: Mapped[bytes] = mapped_column(LargeBinary)
    # active (signs new certificates) | retired (signs only CRLs and responders) | removed
    status: Mapped[str] = mapped_column(String(16))
    key_ref: Mapped[str] = mapped_column(Text)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CertificateRequest(Base):
    __tablename__ = "certificate_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    profile: Mapped[str] = mapped_column(String(32))
    csr_der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # pending | approved | rejected | issued
    status: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CertificateRecord(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("issuer_id", "serial"),
        Index("ix_certificates_company_status", "company_id", "status"),
        Index("ix_certificates_issuer_status", "issuer_id", "status"),
        Index("ix_certificates_spki", "spki_sha256"),
        Index("ix_certificates_crl", "issuer_id", "status", "revoked_at", "serial", "revocation_reason"),
        # The full CRL reads the stored entries of an issuer's revoked rows in serial order, by chunks
        # (ca.ledger.crl_entries): an index-only scan on both backends (migration 0021; `status` is a column
        # too because SQLite's planner covers a query only with the columns of the index itself).
        Index("ix_certificates_crl_entries", "issuer_id", "serial", "crl_entry", "status",
              postgresql_where=text("status = 'revoked'"), sqlite_where=text("status = 'revoked'")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    # Lowercase hex, no separators (ca.x509.serials.format_serial).
    serial: Mapped[str] = mapped_column(String(42))
    # pending (intent recorded, not yet signed) | issued | revoked | failed
    status: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    spki_sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), nullable=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_requests.id"), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The row's revokedCertificates entry (RFC 5280 §5.1.2.6) in DER, written with the revocation by the
    # one encoder (ca.x509.crl.encode_revoked_entry), as the certificate's DER is written with its issuance:
    # the full CRL of 10^6 entries is then read, not re-encoded (issue 14 item 4). NULL on a row revoked
    # before migration 0021 filled it or written by another tool: the CRL then encodes it from the columns.
    crl_entry: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A renewal (issue 11): the certificate this one succeeds, revoked `superseded` at this one's first
    # front-office use or at the grace deadline (ca.supersession).
    predecessor_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), nullable=True, index=True)


class BlockedKey(Base):
    __tablename__ = "blocked_keys"
    spki_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CRLState(Base):
    """The last CRL number per issuer and kind: published numbers only ever grow (Boulder #7590)."""

    __tablename__ = "crl_state"
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # full | delta
    crl_number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)
    dirty: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEvent(Base):
    """Insert-only and hash-chained: each row's hash covers its content and the previous hash."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    company_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class OCSPResponseRecord(Base):
    """Pre-signed OCSP responses (RFC 5019 §2.1.1 style), shared by every responder process."""

    __tablename__ = "ocsp_responses"
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(42), primary_key=True)
    hash_name: Mapped[str] = mapped_column(String(8), primary_key=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)

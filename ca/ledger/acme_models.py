"""Ledger tables of the ACME server (RFC 8555, issue 12): accounts bound to a company by External Account
Binding, the domains a company may ask for, orders, authorizations, challenges and nonces.

An ACME certificate is an ordinary `certificates` row (company set); the order links to it.
The EAB HMAC key must be kept to verify the binding (RFC 8555 §7.3.4): it is a CA-side secret like the
issuer keys, shown once to the company and never written to the audit trail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ca.ledger.models import Base, UTCDateTime


class CompanyDomain(Base):
    """A DNS domain the operator lets a company ask for; its subdomains are included."""

    __tablename__ = "company_domains"
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AcmeEabKey(Base):
    """External Account Binding credentials (RFC 8555 §7.3.4) of one company."""

    __tablename__ = "acme_eab_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hmac_key: Mapped[bytes] = mapped_column(LargeBinary)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(254))


class AcmeAccount(Base):
    __tablename__ = "acme_accounts"
    __table_args__ = (Index("ix_acme_accounts_company", "company_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    eab_kid: Mapped[str] = mapped_column(ForeignKey("acme_eab_keys.kid"))
    # RFC 7638 SHA-256 thumbprint (base64url) of the account key: one account per key (RFC 8555 §7.3.1).
    key_thumbprint: Mapped[str] = mapped_column(String(64), unique=True)
    jwk: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)  # JSON list of URLs
    status: Mapped[str] = mapped_column(String(16))  # valid | deactivated | revoked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AcmeOrder(Base):
    __tablename__ = "acme_orders"
    __table_args__ = (Index("ix_acme_orders_account", "account_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("acme_accounts.id"))
    status: Mapped[str] = mapped_column(String(16))  # pending | ready | processing | valid | invalid
    identifiers: Mapped[str] = mapped_column(Text)  # JSON list of DNS names, sorted
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON problem document
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AcmeAuthorization(Base):
    __tablename__ = "acme_authorizations"
    __table_args__ = (Index("ix_acme_authorizations_order", "order_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("acme_orders.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("acme_accounts.id"))
    identifier: Mapped[str] = mapped_column(String(253))
    status: Mapped[str] = mapped_column(String(16))  # pending | valid | invalid | deactivated
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AcmeChallenge(Base):
    __tablename__ = "acme_challenges"
    __table_args__ = (UniqueConstraint("token"), Index("ix_acme_challenges_authorization", "authorization_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authorization_id: Mapped[int] = mapped_column(ForeignKey("acme_authorizations.id"))
    type: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | processing | valid | invalid
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AcmeNonce(Base):
    """Replay-Nonce values handed out and not yet used (RFC 8555 §6.5): shared by every worker."""

    __tablename__ = "acme_nonces"
    __table_args__ = (Index("ix_acme_nonces_expires", "expires_at"),)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

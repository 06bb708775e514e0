"""Ledger tables of OAuth2 API clients (issue 12 item 1): registered applications and the access tokens
issued to them.

No secret is stored: a client secret is kept as its argon2id hash, a pinned certificate as its SHA-256.
Every access token is recorded by its `jti` (RFC 7519 §4.1.7) so that a revocation (RFC 7009) or a revoked
client takes effect at once: the resource server checks this row on every call, not only the signature.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ca.ledger.models import Base, UTCDateTime


class ApiClient(Base):
    """An API application of a company; `auth_method` is an RFC 8414 / RFC 8705 §2 method name."""

    __tablename__ = "api_clients"
    __table_args__ = (Index("ix_api_clients_company", "company_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    name: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(255))  # space-separated (RFC 6749 §3.3)
    # client_secret_basic (secret, also accepted as client_secret_post) | tls_client_auth
    auth_method: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    # tls_client_auth (RFC 8705 §2.1.2): exactly one of these names the certificate.
    tls_subject_dn: Mapped[str | None] = mapped_column(String(512), nullable=True)
    tls_san_dns: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tls_cert_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccessTokenRecord(Base):
    """One issued JWT access token, by its jti; `cnf_x5t_s256` when bound to a certificate (RFC 8705 §3)."""

    __tablename__ = "oauth_access_tokens"
    __table_args__ = (Index("ix_oauth_access_tokens_client", "client_pk"),)
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    scope: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cnf_x5t_s256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

"""OAuth2 API clients and their access tokens (issue 12 item 1)

Revision ID: 0009
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(255), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=True),
        sa.Column("tls_subject_dn", sa.String(512), nullable=True),
        sa.Column("tls_san_dns", sa.String(255), nullable=True),
        sa.Column("tls_cert_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_clients_company", "api_clients", ["company_id"])
    op.create_table(
        "oauth_access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("client_pk", sa.Integer, sa.ForeignKey("api_clients.id"), nullable=False),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cnf_x5t_s256", sa.String(64), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_oauth_access_tokens_client", "oauth_access_tokens", ["client_pk"])


def downgrade() -> None:
    op.drop_index("ix_oauth_access_tokens_client", table_name="oauth_access_tokens")
    op.drop_table("oauth_access_tokens")
    op.drop_index("ix_api_clients_company", table_name="api_clients")
    op.drop_table("api_clients")

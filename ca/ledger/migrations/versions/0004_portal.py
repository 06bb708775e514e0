"""portal: activation links and login sessions

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activation_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_activation_tokens_user", "activation_tokens", ["user_id"])
    op.create_table(
        "portal_sessions",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    op.create_index("ix_portal_sessions_user", "portal_sessions", ["user_id"])
    # Requests are listed per company and state (the administrator's queue).
    op.create_index("ix_certificate_requests_company_status", "certificate_requests", ["company_id", "status"])
    # API clients authenticating with their certificate are found by its SHA-256.
    op.create_index("ix_certificates_sha256", "certificates", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_certificates_sha256", "certificates")
    op.drop_index("ix_certificate_requests_company_status", "certificate_requests")
    op.drop_index("ix_portal_sessions_user", "portal_sessions")
    op.drop_table("portal_sessions")
    op.drop_index("ix_activation_tokens_user", "activation_tokens")
    op.drop_table("activation_tokens")

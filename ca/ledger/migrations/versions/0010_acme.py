"""acme: company domains, EAB keys, accounts, orders, authorizations, challenges, nonces (RFC 8555)

Revision ID: 0010
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0013"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "company_domains",
        sa.Column("company_id", sa.Integer(), sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("company_id", "domain"),
    )
    op.create_table(
        "acme_eab_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("hmac_key", sa.LargeBinary(), nullable=False),
        sa.Column("company_id", sa.Integer(), sa.ForeignKey("companies.id"), nullable=False),
        _at("created_at"),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("eab_kid", sa.String(length=64), sa.ForeignKey("acme_eab_keys.kid"), nullable=False),
        sa.Column("key_thumbprint", sa.String(length=64), nullable=False),
        sa.Column("jwk", sa.Text(), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_thumbprint"),
    )
    op.create_index("ix_acme_accounts_company", "acme_accounts", ["company_id"])
    op.create_table(
        "acme_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("acme_accounts.id"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identifiers", sa.Text(), nullable=False),
        _at("expires_at"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), sa.ForeignKey("certificates.id"), nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_acme_orders_account", "acme_orders", ["account_id"])
    op.create_table(
        "acme_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("acme_orders.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("acme_accounts.id"), nullable=False),
        sa.Column("identifier", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("expires_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_acme_authorizations_order", "acme_authorizations", ["order_id"])
    op.create_table(
        "acme_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authorization_id", sa.Integer(), sa.ForeignKey("acme_authorizations.id"), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("validated_at", nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_acme_challenges_authorization", "acme_challenges", ["authorization_id"])
    op.create_table(
        "acme_nonces",
        sa.Column("value", sa.String(length=64), nullable=False),
        _at("expires_at"),
        sa.PrimaryKeyConstraint("value"),
    )
    op.create_index("ix_acme_nonces_expires", "acme_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_acme_nonces_expires", "acme_nonces")
    op.drop_table("acme_nonces")
    op.drop_index("ix_acme_challenges_authorization", "acme_challenges")
    op.drop_table("acme_challenges")
    op.drop_index("ix_acme_authorizations_order", "acme_authorizations")
    op.drop_table("acme_authorizations")
    op.drop_index("ix_acme_orders_account", "acme_orders")
    op.drop_table("acme_orders")
    op.drop_index("ix_acme_accounts_company", "acme_accounts")
    op.drop_table("acme_accounts")
    op.drop_table("acme_eab_keys")
    op.drop_table("company_domains")

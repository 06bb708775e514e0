"""certificate life (issue 11): renewal link and the ledger of e-mailed notices

Revision ID: 0008
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain column (no table rebuild on SQLite); the model's foreign key documents the link.
    op.add_column("certificates", sa.Column("predecessor_id", sa.Integer(), nullable=True))
    op.create_index("ix_certificates_predecessor_id", "certificates", ["predecessor_id"])
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), sa.ForeignKey("certificates.id"), nullable=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_notices_unsent", "notices", ["sent_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_notices_unsent", table_name="notices")
    op.drop_table("notices")
    op.drop_index("ix_certificates_predecessor_id", table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("predecessor_id")

"""list indexes: keyset pagination, sorts and searches of every list (issue 15 item 2)

Revision ID: 0012
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

# (name, table, columns); a column given as text is an expression (lower(email)).
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_certificates_company_id", "certificates", ("company_id", "id")),
    ("ix_certificates_company_not_after", "certificates", ("company_id", "not_after", "id")),
    ("ix_certificates_company_serial", "certificates", ("company_id", "serial", "id")),
    ("ix_certificates_company_status_id", "certificates", ("company_id", "status", "id")),
    ("ix_certificates_user_id", "certificates", ("user_id", "id")),
    ("ix_certificates_serial", "certificates", ("serial",)),
    ("ix_users_email_lower", "users", ("lower(email)",)),
    ("ix_users_company_id", "users", ("company_id", "id")),
    ("ix_certificate_requests_company_id", "certificate_requests", ("company_id", "id")),
    ("ix_audit_events_company_id", "audit_events", ("company_id", "id")),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, [sa.text(c) if "(" in c else c for c in columns])


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)

"""dashboard indexes: the dashboards' counts by index-only scans (issue 15 items 2 and 3)

Revision ID: 0016
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0012"
branch_labels = None
depends_on = None

REVOKED = "status = 'revoked'"
# (name, table, columns, partial WHERE or None): the same as ca/ledger/dashboard_indexes.py.
INDEXES: tuple[tuple[str, str, tuple[str, ...], str | None], ...] = (
    ("ix_certificates_status_not_after", "certificates", ("status", "not_after"), None),
    ("ix_certificates_company_status_not_after", "certificates", ("company_id", "status", "not_after"), None),
    ("ix_certificates_revoked_at", "certificates", ("revoked_at", "company_id"), REVOKED),
    ("ix_certificate_requests_status_company", "certificate_requests", ("status", "company_id"), None),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        condition = None if where is None else sa.text(where)
        op.create_index(name, table, list(columns), postgresql_where=condition, sqlite_where=condition)


def downgrade() -> None:
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)

"""covering index for CRLs: revoked certificates of an issuer, by revocation time, with serial and reason

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Covering: the full CRL (issuer, status) and the delta CRL (+ revoked_at range) read only the index.
    op.create_index("ix_certificates_crl", "certificates",
                    ["issuer_id", "status", "revoked_at", "serial", "revocation_reason"])


def downgrade() -> None:
    op.drop_index("ix_certificates_crl", table_name="certificates")

"""crl entries: each revoked row carries its revokedCertificates entry in DER, and an index-only path to read
them in serial order (issue 14 item 4: the full CRL of 10^6 entries read, not re-encoded)

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from ca.x509.crl import encode_revoked_entry

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_BATCH = 20_000
_REVOKED = sa.text("status = 'revoked'")


def _aware(value: datetime | str) -> datetime:
    """revoked_at as read without the model's type: SQLite gives its stored UTC text, PostgreSQL a datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value[:19])
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _entry(row: Any) -> bytes | None:
    """None for a row the encoder refuses (a serial or reason no CRL can carry): it stays NULL, and the CRL
    publication refuses it with its own message, as before this revision."""
    try:
        return encode_revoked_entry(row[1], _aware(row[2]), row[3])
    except ValueError:
        return None


def upgrade() -> None:
    op.add_column("certificates", sa.Column("crl_entry", sa.LargeBinary(), nullable=True))
    certificates = sa.table("certificates", sa.column("id", sa.Integer()), sa.column("serial", sa.String()),
                            sa.column("status", sa.String()), sa.column("revoked_at"),
                            sa.column("revocation_reason", sa.String()), sa.column("crl_entry", sa.LargeBinary()))
    connection = op.get_bind()
    last = 0
    while True:  # the rows revoked before this revision get their entry, by batches of ids
        rows = connection.execute(
            sa.select(certificates.c.id, certificates.c.serial, certificates.c.revoked_at,
                      certificates.c.revocation_reason)
            .where(certificates.c.status == "revoked", certificates.c.revoked_at.is_not(None),
                   certificates.c.id > last)
            .order_by(certificates.c.id).limit(_BATCH)).all()
        if not rows:
            break
        entries = [{"row_id": row.id, "entry": entry} for row in rows if (entry := _entry(row)) is not None]
        if entries:
            connection.execute(certificates.update().where(certificates.c.id == sa.bindparam("row_id"))
                               .values(crl_entry=sa.bindparam("entry")), entries)
        last = rows[-1].id
    op.create_index("ix_certificates_crl_entries", "certificates", ["issuer_id", "serial", "crl_entry", "status"],
                    postgresql_where=_REVOKED, sqlite_where=_REVOKED)


def downgrade() -> None:
    op.drop_index("ix_certificates_crl_entries", table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("crl_entry")

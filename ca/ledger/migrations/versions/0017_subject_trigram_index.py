"""subject trigram index: a certificate's subject searched by any part of its text (issue 15 item 2)

PostgreSQL only. pg_trgm's GIN operator class (gin_trgm_ops) answers `subject ILIKE '%text%'` from the index
when the text holds a trigram (three characters or more): the search of ca/ledger/list_store.py, which
without it reads every certificate of the company (100,000 rows for the big one: 132 ms). Shorter text
has no trigram; the planner then keeps the company's index walk, and the results are the same.
SQLite has no trigram index and keeps its LIKE within the company's rows: nothing to do there.

The extension is shared by the whole database, so it goes in `public`, never in the ledger's own schema
(a ledger per schema, as the tests and benchmarks run, would drop it with theirs); where the database
already has it, in whatever schema, that one is used and the operator class is named with its schema.
A transaction lock orders two ledgers of one database migrating at once (CREATE EXTENSION IF NOT EXISTS
alone races). pg_trgm ships with PostgreSQL (the contrib modules, in Debian's postgresql-15 package) and is
a trusted extension (PostgreSQL 13+): the database's owner may create it.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "ix_certificates_subject_trgm"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('portail-pki: CREATE EXTENSION pg_trgm'))")
    bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    schema = bind.exec_driver_sql("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                  "WHERE extname = 'pg_trgm'").scalar_one()
    bind.exec_driver_sql(f"CREATE INDEX {INDEX} ON certificates USING gin (subject {schema}.gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="certificates")  # the extension stays: other schemas may use it

"""subject trigram index: a company's certificates searched by any part of their subject (issue 15 item 2)

PostgreSQL only. One GIN index on (company_id, subject gin_trgm_ops): pg_trgm's operator class answers
`subject ILIKE '%text%'` for text holding a trigram (three characters or more), btree_gin's the company's
equality, and the index scan intersects both, so a company's search reads only its matching rows. Measured
on the seeded ledger (bench/seed_ledger.py, 10^6 certificates; 'Holder 0000123' in the 100,000-certificate
company, EXPLAIN ANALYZE, one run, load average 10): the company's rows walked 383-506 ms; a trigram index
on subject alone, ANDed with the company's btree, 83-92 ms (266 trigram candidates, and a bitmap of the
company's 100,000 rows); this index 9-11 ms (113 candidates). Without a company the index still serves the
subject alone (a GIN index answers any subset of its columns). Shorter text has no trigram: the planner
keeps the company's index walk, with the same rows. SQLite has no trigram index and keeps its LIKE within
the company's rows: nothing to do there.

The extensions belong to the whole database, so they go in `public`, never in the ledger's own schema (a
ledger per schema, as the tests and benchmarks run, would drop them with its own); where the database has
pg_trgm already, in whatever schema, that one is used and its operator class is named with its schema
(btree_gin's int4 class is the default one: found whatever the schema). A transaction lock orders two
ledgers of one database migrating at once (CREATE EXTENSION IF NOT EXISTS alone races). Both ship with
PostgreSQL (its contrib modules: Debian's postgresql-15 package) and are trusted extensions (PostgreSQL
13+): the database's owner may create them.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "ix_certificates_company_subject_trgm"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('portail-pki: CREATE EXTENSION'))")
    for extension in ("pg_trgm", "btree_gin"):
        bind.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS {extension} WITH SCHEMA public")
    schema = bind.exec_driver_sql("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                  "WHERE extname = 'pg_trgm'").scalar_one()
    bind.exec_driver_sql(f"CREATE INDEX {INDEX} ON certificates USING gin (company_id, subject {schema}.gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="certificates")  # the extensions stay: other schemas may use them

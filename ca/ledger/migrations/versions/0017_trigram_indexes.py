"""trigram indexes: certificates searched by any part of their subject, companies by any part of their name
(issue 15 item 2)

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

The operator's search looks every text up among the companies' names too (`name ILIKE '%text%' OR eic = …`,
whatever the text: a serial, an e-mail): a GIN (name gin_trgm_ops) index and the EIC's unique index answer
it as one BitmapOr, 2.4 ms instead of a sequential scan of the 100,000 companies, 159 ms (same ledger, load
average 14); a text in most names ('company') still walks the primary key, which finds the first page at once.

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

# (name, table, columns), each text column with pg_trgm's operator class (named with its schema at upgrade).
INDEXES = (("ix_certificates_company_subject_trgm", "certificates", "company_id, subject {ops}"),
           ("ix_companies_name_trgm", "companies", "name {ops}"))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('portail-pki: CREATE EXTENSION'))")
    for extension in ("pg_trgm", "btree_gin"):
        bind.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS {extension} WITH SCHEMA public")
    schema = bind.exec_driver_sql("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                  "WHERE extname = 'pg_trgm'").scalar_one()
    ops = f"{schema}.gin_trgm_ops"
    for name, table, columns in INDEXES:
        bind.exec_driver_sql(f"CREATE INDEX {name} ON {table} USING gin ({columns.format(ops=ops)})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _columns in reversed(INDEXES):
            op.drop_index(name, table_name=table)  # the extensions stay: other schemas may use them

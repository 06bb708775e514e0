"""Alembic environment: the engine comes from ca.ledger.database, never from alembic.ini."""

from __future__ import annotations

from alembic import context

# Registered in Base.metadata: the portal tables, and the list indexes of migration 0012.
from ca.ledger import list_indexes, portal_models  # noqa: F401
from ca.ledger.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

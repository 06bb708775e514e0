"""Alembic environment: the engine comes from ca.ledger.database, never from alembic.ini."""

from __future__ import annotations

from alembic import context

from ca.ledger import (
    acme_models,  # noqa: F401  (registers the ACME tables in Base.metadata)
    portal_models,  # noqa: F401  (registers the portal tables in Base.metadata)
)
from ca.ledger.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

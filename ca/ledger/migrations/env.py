"""Alembic environment: the engine comes from ca.ledger.database, never from alembic.ini."""

from __future__ import annotations

from alembic import context

from ca.ledger import (  # noqa: F401  (each registers its tables in Base.metadata)
    acme_models,
    api_client_models,
    cursor_models,  # background_cursors of migration 0020
    dashboard_indexes,  # the dashboard indexes of migration 0016
    list_indexes,  # the list indexes of migration 0012
    notice_models,
    portal_models,
)
from ca.ledger.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

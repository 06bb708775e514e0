"""The ledger: the only package that imports SQLAlchemy and Alembic (DESIGN §2).

`Session` is the type every store function and every use case that holds a transaction takes first;
`SessionFactory` is what `Runtime.sessionmaker` is; `Engine` what `Runtime.engine` is.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SessionFactory = sessionmaker[Session]

__all__ = ["Engine", "Session", "SessionFactory"]

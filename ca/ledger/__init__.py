"""The ledger: the only package that imports SQLAlchemy (DESIGN §2). Store functions take `session` first."""

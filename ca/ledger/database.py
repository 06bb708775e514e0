"""Engines and migrations. SQLite runs in WAL mode with IMMEDIATE transactions so that two writers never
both read the same audit chain head (read-only transactions begin DEFERRED: they never become writers);
PostgreSQL serialises audit appends with an advisory lock (audit.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, exc, inspect
from sqlalchemy.engine import Engine, ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import LedgerUnavailableError
from ca.metrics import LEDGER_ERRORS

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "pki_read_only"  # execution option of a session that only reads (see _sqlite_setup)


def _sqlite_setup(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Durability (https://sqlite.org/pragma.html#pragma_synchronous): in WAL mode NORMAL makes a commit
        # durable against the process's death (kill -9, a crash: the drills), not against power loss or an
        # OS crash, which may roll back the last commits; the WAL is synced at each checkpoint. FULL would
        # sync it at every commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A checkpoint (WAL pages copied into the database file, both synced) runs in the commit that crosses
        # this many WAL pages, holding the write lock: 10,000 pages (40 MB of WAL at 4 KiB) instead of 1,000
        # makes batch issuance checkpoint ten times less often, each page written back once per checkpoint
        # however often it changed (https://sqlite.org/wal.html §"Automatic Checkpoint"; issue 14 §1).
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction marked read-only (READ_ONLY: the issuance's reads, ca.ledger.read_only sessions, an
        # export's stream) never writes, so it cannot hit the reader-to-writer upgrade that IMMEDIATE exists
        # to avoid: it begins DEFERRED and, in WAL mode, reads its snapshot without the write lock.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _translate_outages(engine: Engine) -> None:
    """A database that is down, refusing connections, locked or gone raises `LedgerUnavailableError`, which
    every adapter answers as its protocol says (HTTP 503, OCSP tryLater, one CLI line) — never as a crash.
    Integrity and programming errors keep their SQLAlchemy type: they are bugs or conflicts, not outages."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> BaseException | None:
        if context.is_disconnect or isinstance(context.sqlalchemy_exception,
                                               (exc.OperationalError, exc.InterfaceError)):
            LEDGER_ERRORS.labels(_error_kind(context)).inc()
            return LedgerUnavailableError("the certificate ledger is unavailable right now; try again shortly")
        return None


def _error_kind(context: ExceptionContext) -> str:
    """A short label for the metric: disconnect, locked, connect (refused, timed out, gone) or other."""
    if context.is_disconnect:
        return "disconnect"
    message = str(context.original_exception).lower()
    if "locked" in message or "busy" in message:
        return "locked"
    if context.connection is None or "connect" in message or "unable to open" in message:
        return "connect"
    return "other"


def make_engine(url: str, *, sqlite_busy_timeout_ms: int = 5000, connect_timeout_seconds: int = 5) -> Engine:
    """No request waits on the ledger longer than these bounds (database.* settings): SQLite's busy timeout
    for a lock held by another process, PostgreSQL's connect timeout for a server that does not answer."""
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": sqlite_busy_timeout_ms / 1000})
        _sqlite_setup(engine, sqlite_busy_timeout_ms)
    else:
        connect_args: dict[str, Any] = {}
        if "connect_timeout=" not in url:
            connect_args["connect_timeout"] = connect_timeout_seconds
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    _translate_outages(engine)
    return engine


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    path = url.split("///", 1)[1] if "///" in url else ""
    path = path.split("?", 1)[0]
    return None if not path or path == ":memory:" else path


def ledger_exists(url: str) -> bool:
    """Whether the URL names a ledger that was created (migrated at least once), without creating anything:
    for SQLite, the file exists and holds the schema; for a server, the database holds the schema."""
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if path is None:
            return True  # an in-memory ledger is created with the process
        if not Path(path).is_file():
            return False
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table("alembic_version")
    finally:
        engine.dispose()


def describe_ledger(url: str) -> str:
    """Where the ledger is, safe to print: the SQLite path, or the URL without its password."""
    if url.startswith("sqlite"):
        return _sqlite_path(url) or ":memory:"
    return make_url(url).render_as_string(hide_password=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (`pkictl db upgrade`, and every start)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

"""The ledger database port: a SQLAlchemy engine for SQLite (default) or PostgreSQL.

SQLite is opened in WAL mode with foreign keys on and a busy timeout, so several processes can
read while one writes; PostgreSQL needs nothing special. The bankroll package owns the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from keiba.common.errors import StorageError

__all__ = ["create_ledger_engine"]


def shown(url: str) -> str:
    """`url` as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def create_ledger_engine(url: str, *, busy_timeout_ms: int = 30_000) -> Engine:
    """An engine for `url`; for SQLite, the file's folder is created and WAL mode switched on.

    One connection is opened at once, so an unreachable server, a file that is not a database or
    a folder that cannot be written is a `StorageError` naming the database here, not later.
    """
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError, ValueError) as e:
        raise StorageError(f"the ledger URL {shown(url)} is not usable: {e}") from e
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    @event.listens_for(engine, "handle_error")
    def _name_the_ledger(context: ExceptionContext) -> Exception | None:
        # An operational failure (read-only file, full disk, lost server) names the database;
        # integrity errors stay as they are, for the ledger to turn into its own errors.
        if isinstance(context.sqlalchemy_exception, OperationalError):
            return StorageError(
                f"the ledger {shown(url)} failed: {_reason(context.original_exception)}"
            )
        return None

    try:
        with engine.connect():
            pass
    except DBAPIError as e:
        engine.dispose()
        raise StorageError(f"cannot open the ledger {shown(url)}: {_reason(e.orig or e)}") from e
    except StorageError as e:
        engine.dispose()
        reason = str(e).split(" failed: ", 1)[-1]
        raise StorageError(f"cannot open the ledger {shown(url)}: {reason}") from e
    return engine

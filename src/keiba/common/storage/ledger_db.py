"""The ledger database port: a SQLAlchemy engine for SQLite (default) or PostgreSQL.

SQLite is opened in WAL mode with foreign keys on and a busy timeout, so several processes can
read while one writes; PostgreSQL needs nothing special. The bankroll package owns the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

__all__ = ["create_ledger_engine"]


def create_ledger_engine(url: str, *, busy_timeout_ms: int = 30_000) -> Engine:
    """An engine for `url`; for SQLite, the file's folder is created and WAL mode switched on."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine

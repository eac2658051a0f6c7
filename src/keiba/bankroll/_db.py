"""Transactions for the ledger. On SQLite: writers BEGIN IMMEDIATE, readers a plain BEGIN.

pysqlite's own transaction handling is switched off so SQLAlchemy's `begin` event decides how
each transaction starts. A write transaction takes the database's write lock at BEGIN, so the
read-then-write of a posting can never interleave with another process's. A connection marked
with the execution option `keiba_read=True` starts a deferred transaction instead: in WAL mode
it reads a consistent snapshot without blocking writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

__all__ = ["READ_ONLY", "begin_immediate", "reading"]

READ_ONLY = "keiba_read"


def begin_immediate(engine: Engine) -> None:
    if getattr(engine, "_keiba_begin_immediate", False):
        return

    @event.listens_for(engine, "connect")
    def _no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine._keiba_begin_immediate = True  # type: ignore[attr-defined]


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction over one consistent snapshot (never takes the write lock)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{READ_ONLY: True})
        elif engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn

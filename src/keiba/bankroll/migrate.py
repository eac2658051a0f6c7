"""Bring a ledger database to the current schema with Alembic, safely from many processes.

`upgrade(engine)` is called by `Ledger` on open. It first reads the schema version without
locking (the common case: nothing to do). Otherwise it migrates inside one transaction that
holds the database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped
advisory lock), so two processes opening a fresh database at once cannot both create tables.
DDL is transactional on both databases: a failed migration leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from keiba.bankroll._db import begin_immediate, reading
from keiba.common.errors import StorageError

__all__ = [
    "HEAD_REVISION",
    "VERSION_TABLE",
    "current_revision",
    "head_revision",
    "prepare_engine",
    "upgrade",
]

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "bankroll_schema_version"
HEAD_REVISION = "0003"
"""The newest migration (a test checks it against the scripts; Alembic is imported only to
migrate, which keeps opening a current ledger fast)."""
_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x6B65_6962_61  # "keiba": one advisory lock key for migrations


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The head of the migration scripts (imports Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def prepare_engine(engine: Engine) -> Engine:
    """Install the per-dialect transaction behaviour the ledger relies on (idempotent)."""
    if engine.dialect.name == "sqlite":
        begin_immediate(engine)
    return engine


def upgrade(engine: Engine) -> str:
    """Migrate to the newest schema (a no-op when current); returns the revision."""
    prepare_engine(engine)
    head = HEAD_REVISION
    with reading(engine) as conn:
        if current_revision(conn) == head:
            return head
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        current = current_revision(conn)
        if current == head:
            return head
        if current is None and inspect(conn).has_table("ledger_entries"):
            raise StorageError(
                f"the ledger at {engine.url.render_as_string(hide_password=True)} was created "
                "by an unversioned pre-release of keiba; move it aside and start a new one"
            )
        from alembic import command

        command.upgrade(_config(conn), head)
    return head

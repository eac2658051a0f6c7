"""Alembic environment: runs only on the connection `keiba.bankroll.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from keiba.bankroll.migrate import VERSION_TABLE


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("bankroll migrations run through keiba.bankroll.migrate.upgrade only")
    context.configure(connection=connection, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


_run()

"""Alembic migrations of the bankroll schema; run by `keiba.bankroll.migrate.upgrade`."""

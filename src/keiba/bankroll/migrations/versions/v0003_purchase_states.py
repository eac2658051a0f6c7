"""The purchase life cycle: tickets may now be submitting, rejected, unknown or absent.

Only the trigger that lets a ticket change changes (revision 0002 keeps ticket states in
triggers, not CHECKs, for this): reserved → submitting → placed (accepted, with its receipt)
| rejected | unknown; unknown → placed | absent (reconciled); reserved → placed (bought without
a broker) | released; placed → settled. Existing rows are already in states it allows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from keiba.bankroll.migrations.versions import v0002_proven_ledger as v0002

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TICKET_TRANSITIONS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("reserved", "submitting", (), ()),
    ("reserved", "placed", ("placed_at",), ()),
    ("reserved", "released", (), ()),
    ("submitting", "placed", ("placed_at",), ("receipt",)),
    ("submitting", "rejected", (), ()),
    ("submitting", "unknown", (), ()),
    ("unknown", "placed", ("placed_at",), ("receipt",)),
    ("unknown", "absent", (), ()),
    ("placed", "settled", ("settled_at", "payout_yen", "outcome"), ()),
)
_NAME = "tickets_change_legally"
_MESSAGE = "a ticket changes only along a legal transition"


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    condition = v0002.legal_ticket_change(dialect, TICKET_TRANSITIONS)
    if dialect == "sqlite":
        bind.exec_driver_sql(f"DROP TRIGGER {_NAME}")
        bind.exec_driver_sql(v0002._sqlite_trigger(_NAME, "tickets", "UPDATE", condition, _MESSAGE))
        return
    bind.exec_driver_sql(f"DROP TRIGGER {_NAME} ON tickets")
    bind.exec_driver_sql(f"DROP FUNCTION keiba_{_NAME}()")
    for statement in v0002._pg_trigger(_NAME, "tickets", "UPDATE", condition, _MESSAGE):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("the ledger's schema is never downgraded")

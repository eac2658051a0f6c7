"""The first bankroll schema: accounts, decisions, tickets, ledger entries, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_KINDS = (
    "'deposit', 'withdrawal', 'stake_reserved', 'stake_committed', 'reservation_released', "
    "'payout', 'refund', 'adjustment'"
)
_STATES = "'reserved', 'placed', 'released', 'settled'"


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account", sa.String(64), primary_key=True),
        _at("created_at"),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), sa.ForeignKey("accounts.account"), nullable=False),
        sa.Column("race_id", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("output_sha256", sa.String(64), nullable=False),
        _at("created_at"),
    )
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), sa.ForeignKey("accounts.account"), nullable=False),
        sa.Column("race_id", sa.String(32), nullable=False),
        sa.Column("decision_id", sa.String(64), sa.ForeignKey("decisions.decision_id")),
        sa.Column("bet_type", sa.String(32), nullable=False),
        sa.Column("combination", sa.String(32), nullable=False),
        sa.Column("stake_yen", sa.BigInteger, nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _at("reserved_at"),
        _at("placed_at", nullable=True),
        sa.Column("receipt", sa.String(64)),
        _at("settled_at", nullable=True),
        sa.Column("payout_yen", sa.BigInteger),
        sa.Column("outcome", sa.String(16)),
        sa.CheckConstraint("stake_yen > 0 AND stake_yen % 100 = 0", name="stake_in_units"),
        sa.CheckConstraint("payout_yen IS NULL OR payout_yen >= 0", name="payout_not_negative"),
        sa.CheckConstraint(f"state IN ({_STATES})", name="ticket_state_known"),
        sa.CheckConstraint(
            "(state = 'settled') = (settled_at IS NOT NULL)", name="settled_iff_settled_at"
        ),
    )
    op.create_index("tickets_by_account_placed", "tickets", ["account", "placed_at"])
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), sa.ForeignKey("accounts.account"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("cash_yen", sa.BigInteger, nullable=False),
        sa.Column("reserved_yen", sa.BigInteger, nullable=False),
        sa.Column("cash_after_yen", sa.BigInteger, nullable=False),
        sa.Column("reserved_after_yen", sa.BigInteger, nullable=False),
        sa.Column("race_id", sa.String(32)),
        sa.Column("ticket_id", sa.String(64), sa.ForeignKey("tickets.ticket_id")),
        sa.Column("decision_id", sa.String(64), sa.ForeignKey("decisions.decision_id")),
        sa.Column("cause", sa.String(200), nullable=False),
        _at("created_at"),
        sa.CheckConstraint(
            "cash_after_yen - reserved_after_yen >= 0", name="available_never_negative"
        ),
        sa.CheckConstraint("reserved_after_yen >= 0", name="reserved_never_negative"),
        sa.CheckConstraint("cause <> ''", name="entry_names_its_cause"),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name="entry_kind_known"),
        sa.UniqueConstraint("account", "seq", name="one_entry_per_seq"),
        sa.UniqueConstraint("ticket_id", "kind", name="one_entry_per_ticket_and_kind"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("record_type", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64)),
        _at("created_at"),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("prev_sha256", sa.String(64), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="one_head"),
    )
    op.execute("INSERT INTO audit_head (id, seq, record_sha256) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:
    for name in ("audit_head", "audit_log", "ledger_entries", "tickets", "decisions", "accounts"):
        op.drop_table(name)

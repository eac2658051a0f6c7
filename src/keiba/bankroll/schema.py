"""The bankroll tables, as SQLAlchemy Core metadata (the migrations create them; see `migrate`).

- `accounts`: one row per bankroll.
- `ledger_entries`: every movement of money, in integer yen. Each entry carries its deltas
  (`cash_yen`, `reserved_yen`) and the account's running totals after it (`cash_after_yen`,
  `reserved_after_yen`, numbered by `seq` within the account). The database refuses an entry
  that would make the available balance (cash − reserved) or the reservations negative, a
  second entry of the same kind for one ticket, and an entry without a cause.
- `decisions`: the decisions that reserved stakes (their inputs and outputs are digested in the
  audit log).
- `tickets`: one row per ticket with its state: reserved → placed → settled, or reserved →
  released.
- `audit_log`: the append-only, hash-chained record of every change; `audit_head` is its one-row
  head (the lock every writer takes, and a guard against a truncated tail).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "EntryKind",
    "TicketState",
    "accounts",
    "audit_head",
    "audit_log",
    "decisions",
    "entries",
    "metadata",
    "tickets",
]


class EntryKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    STAKE_RESERVED = "stake_reserved"
    STAKE_COMMITTED = "stake_committed"
    RESERVATION_RELEASED = "reservation_released"
    PAYOUT = "payout"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class TicketState(StrEnum):
    RESERVED = "reserved"
    PLACED = "placed"
    RELEASED = "released"
    SETTLED = "settled"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("account", String(64), ForeignKey("accounts.account"), nullable=False),
    Column("race_id", String(32), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("inputs_sha256", String(64), nullable=False),
    Column("output_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), ForeignKey("accounts.account"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("cash_yen", BigInteger, nullable=False),
    Column("reserved_yen", BigInteger, nullable=False),
    Column("cash_after_yen", BigInteger, nullable=False),
    Column("reserved_after_yen", BigInteger, nullable=False),
    Column("race_id", String(32)),
    Column("ticket_id", String(64), ForeignKey("tickets.ticket_id")),
    Column("decision_id", String(64), ForeignKey("decisions.decision_id")),
    Column("cause", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("cash_after_yen - reserved_after_yen >= 0", name="available_never_negative"),
    CheckConstraint("reserved_after_yen >= 0", name="reserved_never_negative"),
    CheckConstraint("cause <> ''", name="entry_names_its_cause"),
    CheckConstraint(_in("kind", EntryKind), name="entry_kind_known"),
    UniqueConstraint("account", "seq", name="one_entry_per_seq"),
    UniqueConstraint("ticket_id", "kind", name="one_entry_per_ticket_and_kind"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String(64), primary_key=True),
    Column("account", String(64), ForeignKey("accounts.account"), nullable=False),
    Column("race_id", String(32), nullable=False),
    Column("decision_id", String(64), ForeignKey("decisions.decision_id")),
    Column("bet_type", String(32), nullable=False),
    Column("combination", String(32), nullable=False),
    Column("stake_yen", BigInteger, nullable=False),
    Column("rule", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reserved_at", DateTime(timezone=True), nullable=False),
    Column("placed_at", DateTime(timezone=True)),
    Column("receipt", String(64)),
    Column("settled_at", DateTime(timezone=True)),
    Column("payout_yen", BigInteger),
    Column("outcome", String(16)),
    CheckConstraint("stake_yen > 0 AND stake_yen % 100 = 0", name="stake_in_units"),
    CheckConstraint("payout_yen IS NULL OR payout_yen >= 0", name="payout_not_negative"),
    CheckConstraint(_in("state", TicketState), name="ticket_state_known"),
    CheckConstraint(
        "(state = 'settled') = (settled_at IS NOT NULL)", name="settled_iff_settled_at"
    ),
)
Index("tickets_by_account_placed", tickets.c.account, tickets.c.placed_at)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("record_type", String(32), nullable=False),
    Column("account", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("content", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("prev_sha256", String(64), nullable=False),
    Column("record_sha256", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("record_sha256", String(64), nullable=False),
    CheckConstraint("id = 1", name="one_head"),
)

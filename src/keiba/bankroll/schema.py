"""The bankroll tables, as SQLAlchemy Core metadata (the migrations create them; see `migrate`).

- `accounts`: one row per bankroll.
- `ledger_entries`: every movement of money, in integer yen, as one balanced double entry. Its
  legs: `cash_yen` (of which `reserved_yen` is set aside for stakes), `owner_yen` (money brought
  in or taken out) and `result_yen` (stakes bought, payouts and refunds); they sum to zero, and
  so do the account's running totals after it (`…_after_yen`, numbered by `seq`). The database
  refuses an unbalanced entry, legs that do not fit the kind, totals that do not continue the
  previous entry, an available balance (cash − reserved) or reservations below zero, a second
  entry of the same kind for one ticket, and an entry without a cause.
- `decisions`: the decisions that reserved stakes (their inputs and outputs are digested in the
  audit log).
- `tickets`: one row per ticket with its state (`TicketState`), changed only along
  `TRANSITIONS`.
- `audit_log`: the append-only, hash-chained record of every change; `audit_head` is its one-row
  head (the lock every writer takes, and a guard against a truncated tail).

Revision 0002 adds, per dialect, CHECKs on the length, characters and range of every id, hash
and amount (so SQLite refuses what PostgreSQL refuses) and the triggers that keep accounts,
decisions, entries and the audit log append-only and let tickets change only along legal
transitions; see `migrations/versions/v0002_proven_ledger.py`.
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
    "FREED",
    "OWNER_KINDS",
    "RESERVING",
    "RESULT_KINDS",
    "TRANSITIONS",
    "EntryKind",
    "TicketState",
    "accounts",
    "audit_head",
    "audit_log",
    "decisions",
    "entries",
    "legs",
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


OWNER_KINDS = frozenset({EntryKind.DEPOSIT, EntryKind.WITHDRAWAL, EntryKind.ADJUSTMENT})
"""Kinds whose cash comes from or goes to the owner; the others but reservations move it
between the cash and the betting result (stakes out, payouts and refunds in)."""
RESULT_KINDS = frozenset({EntryKind.STAKE_COMMITTED, EntryKind.PAYOUT, EntryKind.REFUND})


def legs(kind: EntryKind, cash: int) -> tuple[int, int]:
    """The (owner, result) legs that balance an entry's cash leg."""
    if kind in OWNER_KINDS:
        return -cash, 0
    if kind in RESULT_KINDS:
        return 0, -cash
    return 0, 0


class TicketState(StrEnum):
    """Where a ticket is in its purchase: see `TRANSITIONS` (and docs/bankroll.md)."""

    RESERVED = "reserved"  # intent recorded, stake reserved
    SUBMITTING = "submitting"  # about to be sent to the venue (recorded before the call)
    PLACED = "placed"  # accepted by the venue (receipt number), stake committed
    REJECTED = "rejected"  # refused by the venue (reason), reservation released
    UNKNOWN = "unknown"  # the broker did not answer: it may or may not be at the venue
    ABSENT = "absent"  # reconciled: not at the venue, reservation released
    RELEASED = "released"  # never sent, reservation released
    SETTLED = "settled"  # won, lost or refunded (返還), once

    ACCEPTED = PLACED  # the venue's word for it


TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    TicketState.RESERVED: frozenset(
        {TicketState.SUBMITTING, TicketState.PLACED, TicketState.RELEASED}
    ),
    TicketState.SUBMITTING: frozenset(
        {TicketState.PLACED, TicketState.REJECTED, TicketState.UNKNOWN}
    ),
    TicketState.UNKNOWN: frozenset({TicketState.PLACED, TicketState.ABSENT}),
    TicketState.PLACED: frozenset({TicketState.SETTLED}),
    TicketState.REJECTED: frozenset(),
    TicketState.ABSENT: frozenset(),
    TicketState.RELEASED: frozenset(),
    TicketState.SETTLED: frozenset(),
}
"""The legal changes of a ticket's state; the database's trigger allows exactly these."""
RESERVING = frozenset({TicketState.RESERVED, TicketState.SUBMITTING, TicketState.UNKNOWN})
"""States that hold the stake reserved."""
FREED = frozenset({TicketState.RELEASED, TicketState.REJECTED, TicketState.ABSENT})
"""States whose reservation was released (nothing bought)."""


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
    Column("owner_yen", BigInteger, nullable=False),
    Column("result_yen", BigInteger, nullable=False),
    Column("owner_after_yen", BigInteger, nullable=False),
    Column("result_after_yen", BigInteger, nullable=False),
    CheckConstraint("cash_after_yen - reserved_after_yen >= 0", name="available_never_negative"),
    CheckConstraint("reserved_after_yen >= 0", name="reserved_never_negative"),
    CheckConstraint("cause <> ''", name="entry_names_its_cause"),
    CheckConstraint(_in("kind", EntryKind), name="entry_kind_known"),
    UniqueConstraint("account", "seq", name="one_entry_per_seq"),
    UniqueConstraint("ticket_id", "kind", name="one_entry_per_ticket_and_kind"),
    CheckConstraint("cash_yen + owner_yen + result_yen = 0", name="entry_is_balanced"),
    CheckConstraint(
        "cash_after_yen + owner_after_yen + result_after_yen = 0", name="books_are_balanced"
    ),
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

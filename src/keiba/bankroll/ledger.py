"""The bankroll ledger: every yen in and out, in integer yen, in one database.

The balance is never held in a process: it is the running total of the account's entries, and
each entry stores the balance after it (`balance_after`, constrained by the database to be
non-negative). Posting an entry locks the account row (`SELECT … FOR UPDATE` on PostgreSQL;
SQLite transactions begin IMMEDIATE, which serialises writers), reads the last balance, and
inserts the next entry in the same transaction. A ticket is settled at most once: settlement
flips the ticket's state with a conditional UPDATE, and a second settlement is a no-op that
says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from keiba.common.clock import Clock
from keiba.common.errors import InvalidAmountError, KeibaError
from keiba.common.money import Yen, yen

__all__ = ["EntryKind", "InsufficientFundsError", "Ledger", "SettlementResult", "Ticket"]

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), ForeignKey("accounts.account"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("amount_yen", BigInteger, nullable=False),
    Column("balance_after_yen", BigInteger, nullable=False),
    Column("race_id", String(16)),
    Column("ticket_id", String(64)),
    Column("cause", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("balance_after_yen >= 0", name="balance_never_negative"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String(64), primary_key=True),
    Column("account", String(64), ForeignKey("accounts.account"), nullable=False),
    Column("race_id", String(16), nullable=False),
    Column("bet_type", String(32), nullable=False),
    Column("combination", String(16), nullable=False),
    Column("stake_yen", BigInteger, nullable=False),
    Column("rule", String(100), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True)),
    Column("payout_yen", BigInteger),
    Column("outcome", String(16)),
    CheckConstraint("stake_yen > 0 AND stake_yen % 100 = 0", name="stake_in_units"),
    CheckConstraint("payout_yen IS NULL OR payout_yen >= 0", name="payout_not_negative"),
)


class EntryKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    STAKE = "stake"
    PAYOUT = "payout"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class InsufficientFundsError(KeibaError):
    """The entry would take the balance below zero; nothing was written."""


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    race_id: str
    bet_type: str
    combination: str
    stake: Yen
    rule: str


@dataclass(frozen=True)
class SettlementResult:
    ticket_id: str
    settled_now: bool
    outcome: str
    paid: Yen


class Ledger:
    """The ledger of one database. Safe to use from many processes at once."""

    def __init__(self, engine: Engine, clock: Clock, account: str = "main") -> None:
        self._engine = engine
        self._clock = clock
        self.account = account
        if engine.dialect.name == "sqlite":
            _sqlite_begin_immediate(engine)
        metadata.create_all(engine)
        with engine.begin() as conn:
            exists = conn.execute(
                select(accounts.c.account).where(accounts.c.account == account)
            ).first()
            if exists is None:
                conn.execute(insert(accounts).values(account=account, created_at=clock.now()))

    def _post(
        self,
        conn: Connection,
        kind: EntryKind,
        amount: int,
        cause: str,
        race_id: str | None = None,
        ticket_id: str | None = None,
    ) -> Yen:
        conn.execute(
            select(accounts.c.account).where(accounts.c.account == self.account).with_for_update()
        )
        last = conn.execute(
            select(entries.c.balance_after_yen)
            .where(entries.c.account == self.account)
            .order_by(entries.c.entry_id.desc())
            .limit(1)
        ).scalar()
        balance = int(last or 0) + amount
        if balance < 0:
            raise InsufficientFundsError(
                f"{kind.value} of {abs(amount):,} yen would take account {self.account!r} "
                f"to {balance:,} yen"
            )
        conn.execute(
            insert(entries).values(
                account=self.account,
                kind=kind.value,
                amount_yen=amount,
                balance_after_yen=balance,
                race_id=race_id,
                ticket_id=ticket_id,
                cause=cause,
                created_at=self._clock.now(),
            )
        )
        return Yen(balance)

    def balance(self) -> Yen:
        with self._engine.connect() as conn:
            last = conn.execute(
                select(entries.c.balance_after_yen)
                .where(entries.c.account == self.account)
                .order_by(entries.c.entry_id.desc())
                .limit(1)
            ).scalar()
        return Yen(int(last or 0))

    def deposit(self, amount: int, cause: str = "deposit") -> Yen:
        value = yen(amount, what="deposit")
        if value == 0:
            raise InvalidAmountError("deposit must be positive, was 0 yen")
        with self._engine.begin() as conn:
            return self._post(conn, EntryKind.DEPOSIT, value, cause)

    def withdraw(self, amount: int, cause: str = "withdrawal") -> Yen:
        value = yen(amount, what="withdrawal")
        with self._engine.begin() as conn:
            return self._post(conn, EntryKind.WITHDRAWAL, -value, cause)

    def place(self, ticket: Ticket) -> Yen:
        """Record a purchased ticket and take its stake from the balance (atomically)."""
        stake = yen(ticket.stake, what="stake")
        if stake == 0 or stake % 100:
            raise InvalidAmountError(f"stake must be a positive multiple of 100, was {stake}")
        with self._engine.begin() as conn:
            balance = self._post(
                conn,
                EntryKind.STAKE,
                -stake,
                f"ticket {ticket.ticket_id} by rule {ticket.rule}",
                ticket.race_id,
                ticket.ticket_id,
            )
            conn.execute(
                insert(tickets).values(
                    ticket_id=ticket.ticket_id,
                    account=self.account,
                    race_id=ticket.race_id,
                    bet_type=ticket.bet_type,
                    combination=ticket.combination,
                    stake_yen=stake,
                    rule=ticket.rule,
                    placed_at=self._clock.now(),
                )
            )
        return balance

    def settle(self, ticket_id: str, payout: int, *, refund: bool = False) -> SettlementResult:
        """Credit a ticket's payout (or refund its stake) exactly once."""
        amount = yen(payout, what="payout")
        outcome = "refund" if refund else ("won" if amount > 0 else "lost")
        with self._engine.begin() as conn:
            row = conn.execute(
                select(tickets.c.race_id, tickets.c.stake_yen, tickets.c.outcome).where(
                    tickets.c.ticket_id == ticket_id
                )
            ).first()
            if row is None:
                raise KeibaError(f"no ticket {ticket_id!r} to settle")
            if refund and amount != row.stake_yen:
                raise InvalidAmountError(
                    f"a refund returns the stake ({row.stake_yen} yen), was {amount} yen"
                )
            changed = conn.execute(
                update(tickets)
                .where(tickets.c.ticket_id == ticket_id, tickets.c.settled_at.is_(None))
                .values(settled_at=self._clock.now(), payout_yen=amount, outcome=outcome)
            ).rowcount
            if changed == 0:
                return SettlementResult(ticket_id, False, str(row.outcome), Yen(0))
            if amount > 0:
                kind = EntryKind.REFUND if refund else EntryKind.PAYOUT
                self._post(conn, kind, amount, f"settle {ticket_id}", row.race_id, ticket_id)
        return SettlementResult(ticket_id, True, outcome, amount)

    def history(self) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(entries)
                .where(entries.c.account == self.account)
                .order_by(entries.c.entry_id)
            ).mappings()
            return [dict(r) for r in rows]

    def tickets(self) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(tickets)
                .where(tickets.c.account == self.account)
                .order_by(tickets.c.placed_at)
            ).mappings()
            return [dict(r) for r in rows]


def _sqlite_begin_immediate(engine: Engine) -> None:
    """Make every SQLite transaction take the write lock at BEGIN (serialises writers)."""
    if getattr(engine, "_keiba_begin_immediate", False):
        return

    @event.listens_for(engine, "connect")
    def _no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine._keiba_begin_immediate = True  # type: ignore[attr-defined]

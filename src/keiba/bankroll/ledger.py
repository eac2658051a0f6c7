"""The bankroll ledger: every yen in and out, in integer yen, in one database.

The balance is never held in a process: it is derived from the account's entries. Each entry
stores its deltas and the running totals after it — cash, and the stakes reserved by decisions
but not yet placed — and the database refuses an entry whose available balance (cash −
reserved) would be negative. A ticket's life is the state machine of `TRANSITIONS`: reserved
at decision (`record_decision` or `reserve`), marked submitting before the broker is called,
then accepted with its receipt (`accept`: the stake is committed), rejected (`reject`: the
reservation is released) or unknown (`mark_unknown`) until reconciled (`mark_reconciled`);
or bought without a broker (`commit`, or `place` for both at once) or released unsent
(`release`); then settled once (`settle`: payout, refund of a scratched runner, or a loss).
Every entry names its cause (decision, ticket, race or a stated reason), and every transition
is an audit record.

Every write runs in one transaction that first locks the audit chain's head row (PostgreSQL:
`SELECT … FOR UPDATE`; SQLite: the transaction began IMMEDIATE and holds the write lock), then
reads the running totals, writes the entries, the ticket's new state and the audit record, and
moves the head. Writers are therefore serialised by the database, whatever the number of
processes; a process killed mid-way leaves its transaction uncommitted and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from keiba.bankroll._db import reading
from keiba.bankroll.audit import ENTRY_FIELDS, Chain, RecordType, digest
from keiba.bankroll.checkpoints import CheckpointExporter
from keiba.bankroll.migrate import upgrade
from keiba.bankroll.schema import (
    TRANSITIONS,
    EntryKind,
    TicketState,
    accounts,
    audit_log,
    decisions,
    entries,
    legs,
    tickets,
)
from keiba.common.clock import Clock
from keiba.common.errors import InvalidAmountError, KeibaError
from keiba.common.money import TICKET_UNIT, Yen, positive_yen, yen
from keiba.common.storage.ledger_db import shown

__all__ = [
    "Balances",
    "DecisionRecord",
    "EntryKind",
    "InsufficientFundsError",
    "Ledger",
    "LedgerError",
    "RaceDayTotals",
    "SettlementResult",
    "Ticket",
    "TicketState",
]


class LedgerError(KeibaError):
    """An operation the ledger refuses (unknown ticket, wrong state, duplicate id)."""


class InsufficientFundsError(LedgerError):
    """The entry would take the available balance below zero; nothing was written."""


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    race_id: str
    bet_type: str
    combination: str
    stake: Yen
    rule: str
    decision_id: str | None = None


@dataclass(frozen=True)
class Balances:
    """An account's totals: cash held, stakes reserved, and what is available to stake."""

    cash: Yen
    reserved: Yen

    @property
    def available(self) -> Yen:
        return Yen(self.cash - self.reserved)


@dataclass(frozen=True)
class SettlementResult:
    ticket_id: str
    settled_now: bool
    outcome: str
    paid: Yen
    message: str = ""


@dataclass(frozen=True)
class RaceDayTotals:
    """The tickets of one race day's races: how many, their stakes, what they returned."""

    tickets: int
    staked: Yen
    returned: Yen


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    audit_seq: int
    reserved: tuple[str, ...]


def _utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError(f"the ledger's clock must be timezone-aware, was {at.isoformat()}")
    return at.astimezone(dt.UTC)


_TOTALS = (
    select(
        entries.c.seq,
        entries.c.cash_after_yen,
        entries.c.reserved_after_yen,
        entries.c.owner_after_yen,
        entries.c.result_after_yen,
    )
    .where(entries.c.account == bindparam("account"))
    .order_by(entries.c.seq.desc())
    .limit(1)
)
_INSERT_ENTRY = insert(entries).returning(entries.c.entry_id)
_TICKET = select(tickets).where(
    tickets.c.ticket_id == bindparam("tid"), tickets.c.account == bindparam("account")
)
_TICKET_EXISTS = select(tickets.c.ticket_id).where(tickets.c.ticket_id == bindparam("tid"))
_INSERT_TICKET = insert(tickets)
_SETTLE_TICKET = (
    update(tickets)
    .where(tickets.c.ticket_id == bindparam("tid"), tickets.c.state == TicketState.PLACED.value)
    .values(
        state=TicketState.SETTLED.value,
        settled_at=bindparam("at"),
        payout_yen=bindparam("paid"),
        outcome=bindparam("result"),
    )
)


class _Write:
    """One write transaction: the chain (head locked), the account and the time."""

    def __init__(self, conn: Connection, account: str, at: dt.datetime) -> None:
        self.conn = conn
        self.account = account
        self.at = at
        self.chain = Chain(conn)
        self.posted: list[dict[str, Any]] = []
        self.recorded: list[RecordType] = []

    def totals(self) -> tuple[int, int, int, int, int]:
        """The last entry's seq and running totals: cash, reserved, owner, result."""
        last = self.conn.execute(_TOTALS, {"account": self.account}).first()
        if last is None:
            return 0, 0, 0, 0, 0
        return (
            int(last.seq),
            int(last.cash_after_yen),
            int(last.reserved_after_yen),
            int(last.owner_after_yen),
            int(last.result_after_yen),
        )

    def post(
        self,
        kind: EntryKind,
        cash: int,
        reserved: int,
        cause: str,
        *,
        race_id: str | None = None,
        ticket_id: str | None = None,
        decision_id: str | None = None,
    ) -> dict[str, Any]:
        seq, cash_before, reserved_before, owner_before, result_before = self.totals()
        cash_after, reserved_after = cash_before + cash, reserved_before + reserved
        owner, result = legs(kind, cash)
        available = cash_after - reserved_after
        if available < 0 or reserved_after < 0:
            raise InsufficientFundsError(
                f"{kind.value} of {abs(cash or reserved):,} yen would take account "
                f"{self.account!r} to {available:,} yen available "
                f"(cash {cash_before:,}, reserved {reserved_before:,})"
            )
        row: dict[str, Any] = {
            "account": self.account,
            "seq": seq + 1,
            "kind": kind.value,
            "cash_yen": cash,
            "reserved_yen": reserved,
            "cash_after_yen": cash_after,
            "reserved_after_yen": reserved_after,
            "race_id": race_id,
            "ticket_id": ticket_id,
            "decision_id": decision_id,
            "cause": cause[:200],
            "owner_yen": owner,
            "result_yen": result,
            "owner_after_yen": owner_before + owner,
            "result_after_yen": result_before + result,
        }
        entry_id = self.conn.execute(_INSERT_ENTRY, {**row, "created_at": self.at}).scalar_one()
        row["entry_id"] = int(entry_id)
        entry = {f: row[f] for f in ENTRY_FIELDS}
        self.posted.append(entry)
        return entry

    def record(self, record_type: RecordType, payload: Mapping[str, Any]) -> int:
        """Append an audit record carrying `payload` and the entries posted since the last one."""
        body = dict(payload)
        body["entries"], self.posted = self.posted, []
        self.recorded.append(record_type)
        return self.chain.append(record_type, self.account, self.at, body)


class Ledger:
    """The ledger of one account in one database. Safe to use from many processes at once.

    With `checkpoints`, the chain's head is exported after the writes it names (see
    `keiba.bankroll.checkpoints`).
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        account: str = "main",
        *,
        checkpoints: CheckpointExporter | None = None,
    ) -> None:
        _id("an account name", account, 64)
        self._engine = engine
        self._clock = clock
        self._checkpoints = checkpoints
        self.account = account
        upgrade(engine)
        with reading(engine) as conn:
            exists = conn.execute(
                select(accounts.c.account).where(accounts.c.account == account)
            ).first()
        if exists is None:
            with self._write() as w:
                again = w.conn.execute(
                    select(accounts.c.account).where(accounts.c.account == account)
                ).first()
                if again is None:
                    w.conn.execute(insert(accounts).values(account=account, created_at=w.at))
                    w.record(RecordType.ACCOUNT_OPENED, {})

    @classmethod
    def existing(
        cls,
        engine: Engine,
        clock: Clock,
        account: str = "main",
        *,
        checkpoints: CheckpointExporter | None = None,
    ) -> Ledger:
        """The ledger of an account that already exists; never opens one (reading writes
        nothing). An unknown account is a `LedgerError` that says how to open it."""
        upgrade(engine)
        with reading(engine) as conn:
            found = conn.execute(
                select(accounts.c.account).where(accounts.c.account == account)
            ).first()
        if found is None:
            raise LedgerError(
                f"no account {account!r} in the ledger {shown(str(engine.url))}: a first "
                f"deposit opens it (keiba bankroll deposit AMOUNT --account {account})"
            )
        return cls(engine, clock, account, checkpoints=checkpoints)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def _write(self) -> Iterator[_Write]:
        with self._engine.begin() as conn:
            w = _Write(conn, self.account, _utc(self._clock.now()))
            yield w
            if w.posted:
                raise AssertionError("ledger entries posted without an audit record")
            w.chain.close()
        if self._checkpoints is not None and w.recorded:
            kind = "settlement" if RecordType.SETTLEMENT in w.recorded else "write"
            self._checkpoints.after(kind, self._engine, w.at)

    # --- reading -------------------------------------------------------------------------

    def balances(self) -> Balances:
        with reading(self._engine) as conn:
            last = conn.execute(
                select(entries.c.cash_after_yen, entries.c.reserved_after_yen)
                .where(entries.c.account == self.account)
                .order_by(entries.c.seq.desc())
                .limit(1)
            ).first()
        if last is None:
            return Balances(Yen(0), Yen(0))
        return Balances(Yen(int(last.cash_after_yen)), Yen(int(last.reserved_after_yen)))

    def balance(self) -> Yen:
        """The available balance: what a decision may stake now."""
        return self.balances().available

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The account's entries, oldest first (the newest `limit` if given)."""
        query = select(entries).where(entries.c.account == self.account)
        if limit is not None:
            query = query.order_by(entries.c.seq.desc()).limit(limit)
        else:
            query = query.order_by(entries.c.seq)
        with reading(self._engine) as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        return sorted(rows, key=lambda r: int(r["seq"]))

    def tickets(self) -> list[dict[str, Any]]:
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(tickets)
                .where(tickets.c.account == self.account)
                .order_by(tickets.c.reserved_at, tickets.c.ticket_id)
            ).mappings()
            return [dict(r) for r in rows]

    def race_tickets(self, race_id: str) -> list[dict[str, Any]]:
        """Every ticket of the race in this account, whatever its state, in ticket-id order."""
        query = (
            select(tickets)
            .where(tickets.c.account == self.account, tickets.c.race_id == race_id)
            .order_by(tickets.c.ticket_id)
        )
        with reading(self._engine) as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def open_tickets(self, race_id: str) -> list[dict[str, Any]]:
        """The race's tickets placed and not yet settled, in ticket-id order."""
        query = (
            select(tickets)
            .where(
                tickets.c.account == self.account,
                tickets.c.race_id == race_id,
                tickets.c.state == TicketState.PLACED.value,
            )
            .order_by(tickets.c.ticket_id)
        )
        with reading(self._engine) as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def open_stakes(self) -> Yen:
        """The stakes of the account's tickets placed and not yet settled."""
        query = select(func.coalesce(func.sum(tickets.c.stake_yen), 0)).where(
            tickets.c.account == self.account, tickets.c.state == TicketState.PLACED.value
        )
        with reading(self._engine) as conn:
            return Yen(int(conn.execute(query).scalar_one()))

    def race_day(self, day: dt.date) -> RaceDayTotals:
        """What the races of `day` have used and returned so far (released tickets excluded).

        Race ids begin with their date (`YYYYMMDD`), so the day is read from them: a restarted
        process finds the same totals as the one that made the purchases.
        """
        states = (TicketState.PLACED.value, TicketState.SETTLED.value)
        query = select(
            func.count(tickets.c.ticket_id),
            func.coalesce(func.sum(tickets.c.stake_yen), 0),
            func.coalesce(func.sum(tickets.c.payout_yen), 0),
        ).where(
            tickets.c.account == self.account,
            tickets.c.race_id.like(f"{day:%Y%m%d}%"),
            tickets.c.state.in_(states),
        )
        with reading(self._engine) as conn:
            count, staked, returned = conn.execute(query).one()
        return RaceDayTotals(int(count), Yen(int(staked)), Yen(int(returned)))

    def monitor_events(self) -> list[dict[str, Any]]:
        """The payloads of this account's `monitor` audit records, oldest first.

        Each is the payload given to `record_monitor_event` with its `kind`, plus `seq` (the
        audit record's number) and `recorded_at` (its time, ISO 8601 UTC), both taken from the
        hashed record and overriding payload keys of the same name; the chain's own `entries`
        list (always empty here: no money moves) is left out. Records are selected by type
        `monitor` and by the account named inside the hashed content (the `account` column is
        not covered by `verify`, the content is). Read-only: one snapshot, no write lock.
        """
        return self._events(RecordType.MONITOR)

    def promotions(self) -> list[dict[str, Any]]:
        """The payloads of this account's `promotion` audit records (releases promoted and
        rolled back), oldest first, read as `monitor_events` reads its records."""
        return self._events(RecordType.PROMOTION)

    def _events(self, record_type: RecordType) -> list[dict[str, Any]]:
        query = (
            select(audit_log.c.seq, audit_log.c.content)
            .where(audit_log.c.record_type == record_type.value)
            .order_by(audit_log.c.seq)
        )
        found: list[dict[str, Any]] = []
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        for row in rows:
            content = json.loads(str(row.content))
            if content.get("account") != self.account:
                continue
            event = {k: v for k, v in dict(content.get("payload") or {}).items() if k != "entries"}
            event["seq"] = int(row.seq)
            event["recorded_at"] = content.get("at")
            found.append(event)
        return found

    # --- money in and out ----------------------------------------------------------------

    def deposit(self, amount: int, cause: str = "deposit") -> Yen:
        value = positive_yen(amount, "deposit")
        with self._write() as w:
            entry = w.post(EntryKind.DEPOSIT, value, 0, _cause(cause))
            w.record(RecordType.DEPOSIT, {"amount_yen": value})
        return Yen(entry["cash_after_yen"] - entry["reserved_after_yen"])

    def withdraw(self, amount: int, cause: str = "withdrawal") -> Yen:
        value = positive_yen(amount, "withdrawal")
        with self._write() as w:
            entry = w.post(EntryKind.WITHDRAWAL, -value, 0, _cause(cause))
            w.record(RecordType.WITHDRAWAL, {"amount_yen": value})
        return Yen(entry["cash_after_yen"] - entry["reserved_after_yen"])

    def adjust(self, amount: int, reason: str) -> Yen:
        """Correct the cash by a signed amount; the reason is required and recorded."""
        value = yen(amount, what="adjustment", allow_negative=True)
        if value == 0:
            raise InvalidAmountError("an adjustment of 0 yen changes nothing")
        if not reason.strip():
            raise LedgerError("an adjustment needs a reason")
        with self._write() as w:
            entry = w.post(EntryKind.ADJUSTMENT, value, 0, f"adjustment: {reason.strip()}")
            w.record(RecordType.ADJUSTMENT, {"amount_yen": value, "reason": reason.strip()})
        return Yen(entry["cash_after_yen"] - entry["reserved_after_yen"])

    # --- decisions and tickets -----------------------------------------------------------

    def record_monitor_event(self, kind: str, payload: Mapping[str, Any]) -> int:
        """Append a monitoring record (a drawdown tier, a stop, a resume) to the audit chain.

        No money moves and nothing else is written; returns the record's sequence number.
        """
        if not kind:
            raise LedgerError("a monitor record names its kind")
        with self._write() as w:
            return w.record(RecordType.MONITOR, {"kind": kind, **dict(payload)})

    def record_promotion(self, payload: Mapping[str, Any]) -> int:
        """Append a release's promotion or rollback to the audit chain (no money moves);
        returns the record's sequence number."""
        if not payload.get("action") or not payload.get("release_id"):
            raise LedgerError("a promotion record names its action and release")
        with self._write() as w:
            return w.record(RecordType.PROMOTION, dict(payload))

    def record_decision(
        self,
        race_id: str,
        rule: str,
        inputs: Mapping[str, Any],
        output: Mapping[str, Any],
        reserve: Sequence[Ticket] = (),
        *,
        decision_id: str | None = None,
    ) -> DecisionRecord:
        """Record a decision (digests of its inputs and output) and reserve its stakes.

        `inputs` should name the model version, probabilities, odds snapshot and its time, the
        bankroll and the policy; `output` the bets and rejections. Both are hashed as canonical
        JSON; the record keeps the digests and the output. The stakes of `reserve` are reserved
        in the same transaction, so either all of it is recorded or none.
        """
        if not rule or len(rule) > 100:
            raise LedgerError("a decision names the rule that made it (up to 100 characters)")
        did = decision_id or f"d-{uuid.uuid4().hex}"
        _id("a decision id", did, 64)
        _id("a race id", race_id, 32)
        inputs_sha, output_sha = digest(inputs), digest(output)
        with self._write() as w:
            try:
                w.conn.execute(
                    insert(decisions).values(
                        decision_id=did,
                        account=self.account,
                        race_id=race_id,
                        rule=rule,
                        inputs_sha256=inputs_sha,
                        output_sha256=output_sha,
                        created_at=w.at,
                    )
                )
            except IntegrityError as e:
                raise LedgerError(f"decision {did!r} is already recorded") from e
            seq = w.record(
                RecordType.DECISION,
                {
                    "decision_id": did,
                    "race_id": race_id,
                    "rule": rule,
                    "inputs_sha256": inputs_sha,
                    "output_sha256": output_sha,
                    "inputs_summary": _summary(inputs),
                    "output": output,
                },
            )
            reserved = []
            for ticket in reserve:
                self._reserve(w, _with_decision(ticket, did))
                reserved.append(ticket.ticket_id)
        return DecisionRecord(did, seq, tuple(reserved))

    def reserve(self, ticket: Ticket) -> Yen:
        """Reserve a ticket's stake (purchase intent); returns the available balance after."""
        with self._write() as w:
            entry = self._reserve(w, ticket)
        return Yen(entry["cash_after_yen"] - entry["reserved_after_yen"])

    def commit(self, ticket_id: str) -> bool:
        """A reserved ticket was bought without a broker (paper, replay): the reserved stake
        leaves the cash. False if already placed. A submitted ticket is `accept`ed instead."""
        with self._write() as w:
            row = self._ticket(w.conn, ticket_id)
            if row.state == TicketState.PLACED or row.state == TicketState.SETTLED:
                return False
            if row.state != TicketState.RESERVED:
                raise LedgerError(
                    f"ticket {ticket_id!r} is {row.state}; commit buys reserved tickets "
                    "(a submitted one is accepted, an unknown one reconciled)"
                )
            self._commit(w, row)
        return True

    def place(self, ticket: Ticket) -> Yen:
        """Reserve and commit a ticket at once (bought right away); returns the balance after."""
        with self._write() as w:
            self._reserve(w, ticket)
            entry = self._commit(w, self._ticket(w.conn, ticket.ticket_id))
        return Yen(entry["cash_after_yen"] - entry["reserved_after_yen"])

    def confirm(self, ticket_id: str, receipt: str) -> bool:
        """Record the venue's receipt number of a placed ticket. False if already recorded."""
        if not receipt:
            raise LedgerError("a confirmation needs the venue's receipt number")
        _id("a receipt number", receipt, 64)
        with self._write() as w:
            row = self._ticket(w.conn, ticket_id)
            if row.state not in (TicketState.PLACED, TicketState.SETTLED):
                raise LedgerError(f"ticket {ticket_id!r} is {row.state}, not placed")
            if row.receipt is not None:
                if row.receipt != receipt:
                    raise LedgerError(
                        f"ticket {ticket_id!r} already has receipt {row.receipt!r}, not {receipt!r}"
                    )
                return False
            w.conn.execute(
                update(tickets).where(tickets.c.ticket_id == ticket_id).values(receipt=receipt)
            )
            w.record(
                RecordType.CONFIRMATION,
                {"ticket_id": ticket_id, "race_id": row.race_id, "receipt": receipt},
            )
        return True

    def release(self, ticket_id: str, reason: str = "not placed") -> bool:
        """A reserved ticket was never sent: its stake is available again. False if released."""
        with self._write() as w:
            row = self._ticket(w.conn, ticket_id)
            if row.state == TicketState.RELEASED:
                return False
            if row.state != TicketState.RESERVED:
                raise LedgerError(f"ticket {ticket_id!r} is {row.state}; only reserved tickets")
            self._free(w, row, TicketState.RELEASED, RecordType.RELEASE, reason)
        return True

    # --- the purchase life cycle (see TRANSITIONS) ---------------------------------------

    def mark_submitting(self, ticket_ids: Sequence[str]) -> None:
        """The reserved tickets are about to be sent to the venue: recorded before the call,
        so a process that dies during it leaves them `submitting`, never taken for unsent."""
        with self._write() as w:
            for ticket_id in ticket_ids:
                row = self._ticket(w.conn, ticket_id)
                self._move(w, row, TicketState.SUBMITTING)
                w.record(RecordType.SUBMISSION, {"ticket_id": ticket_id, "race_id": row.race_id})

    def accept(self, ticket_id: str, receipt: str) -> bool:
        """The venue accepted a submitted ticket with this receipt number (受付番号): its stake
        is committed. False if it was already accepted with that receipt."""
        _id("a receipt number", receipt, 64)
        with self._write() as w:
            row = self._ticket(w.conn, ticket_id)
            if row.state in (TicketState.PLACED, TicketState.SETTLED) and row.receipt == receipt:
                return False
            _only(row, TicketState.SUBMITTING, "accepted")
            self._commit(w, row, RecordType.ACCEPTANCE, receipt)
        return True

    def reject(self, ticket_id: str, reason: str) -> bool:
        """The venue refused a submitted ticket: its reservation is released. False if it was
        already rejected."""
        with self._write() as w:
            row = self._ticket(w.conn, ticket_id)
            if row.state == TicketState.REJECTED:
                return False
            self._free(w, row, TicketState.REJECTED, RecordType.REJECTION, reason)
        return True

    def mark_unknown(self, ticket_ids: Sequence[str], reason: str) -> None:
        """The broker did not answer for these submitted tickets: they may or may not be at the
        venue. Their stakes stay reserved until `mark_reconciled` says which."""
        with self._write() as w:
            for ticket_id in ticket_ids:
                row = self._ticket(w.conn, ticket_id)
                self._move(w, row, TicketState.UNKNOWN)
                w.record(
                    RecordType.UNKNOWN,
                    {"ticket_id": ticket_id, "race_id": row.race_id, "reason": reason},
                )

    def mark_reconciled(self, ticket_id: str, present: bool, receipt: str | None = None) -> bool:
        """What the venue's records say of an `unknown` ticket: present (bought, with its
        receipt if known: the stake is committed) or absent (the reservation is released).
        False if the ticket was already reconciled the same way; nothing is ever resubmitted."""
        _id("a receipt number", receipt, 64)
        with self._write() as w:
            row = self._ticket(w.conn, ticket_id)
            done = TicketState.PLACED if present else TicketState.ABSENT
            if row.state == done or (present and row.state == TicketState.SETTLED):
                return False
            _only(row, TicketState.UNKNOWN, "reconciled")
            if present:
                self._commit(w, row, RecordType.RECONCILIATION, receipt, present=True)
            else:
                self._free(
                    w, row, TicketState.ABSENT, RecordType.RECONCILIATION, "absent at the venue"
                )
        return True

    def settle(self, ticket_id: str, payout: int, *, refund: bool = False) -> SettlementResult:
        """Credit a ticket's payout (or refund its stake) exactly once.

        Settling a settled ticket again changes nothing and says so (`settled_now` is False).
        """
        amount = yen(payout, what="payout")
        outcome = "refund" if refund else ("won" if amount > 0 else "lost")
        with self._write() as w:
            row = self._ticket(w.conn, ticket_id)
            if row.state == TicketState.SETTLED:
                return SettlementResult(
                    ticket_id,
                    False,
                    str(row.outcome),
                    Yen(0),
                    f"ticket {ticket_id} was already settled ({row.outcome}, "
                    f"{int(row.payout_yen):,} yen); nothing changed",
                )
            if row.state != TicketState.PLACED:
                raise LedgerError(f"ticket {ticket_id!r} is {row.state}, not placed")
            if refund and amount != row.stake_yen:
                raise InvalidAmountError(
                    f"a refund returns the stake ({row.stake_yen} yen), was {amount} yen"
                )
            changed = w.conn.execute(
                _SETTLE_TICKET, {"tid": ticket_id, "at": w.at, "paid": amount, "result": outcome}
            ).rowcount
            if changed != 1:
                raise AssertionError(f"ticket {ticket_id} changed under the chain lock")
            if amount > 0:
                w.post(
                    EntryKind.REFUND if refund else EntryKind.PAYOUT,
                    amount,
                    0,
                    f"settle {ticket_id} ({outcome})",
                    race_id=row.race_id,
                    ticket_id=ticket_id,
                    decision_id=row.decision_id,
                )
            w.record(
                RecordType.SETTLEMENT,
                {
                    "ticket_id": ticket_id,
                    "race_id": row.race_id,
                    "outcome": outcome,
                    "payout_yen": amount,
                    "stake_yen": int(row.stake_yen),
                },
            )
        return SettlementResult(ticket_id, True, outcome, amount)

    # --- internals -----------------------------------------------------------------------

    def _ticket(self, conn: Connection, ticket_id: str) -> Any:
        row = conn.execute(_TICKET, {"tid": ticket_id, "account": self.account}).first()
        if row is None:
            raise LedgerError(f"no ticket {ticket_id!r} in account {self.account!r}")
        return row

    def _reserve(self, w: _Write, ticket: Ticket) -> dict[str, Any]:
        stake = yen(ticket.stake, what="stake")
        if stake == 0 or stake % TICKET_UNIT:
            raise InvalidAmountError(f"stake must be a positive multiple of 100, was {stake}")
        if not ticket.rule or len(ticket.rule) > 100:
            raise LedgerError(f"ticket {ticket.ticket_id!r} names no rule, or one over 100 long")
        _id("a ticket id", ticket.ticket_id, 64)
        _id("a race id", ticket.race_id, 32)
        _id("a decision id", ticket.decision_id, 64)
        _id("a bet type", ticket.bet_type, 32)
        _id("a combination", ticket.combination, 32)
        exists = w.conn.execute(_TICKET_EXISTS, {"tid": ticket.ticket_id}).first()
        if exists is not None:
            raise LedgerError(f"ticket {ticket.ticket_id!r} already exists")
        w.conn.execute(
            _INSERT_TICKET,
            {
                "ticket_id": ticket.ticket_id,
                "account": self.account,
                "race_id": ticket.race_id,
                "decision_id": ticket.decision_id,
                "bet_type": ticket.bet_type,
                "combination": ticket.combination,
                "stake_yen": stake,
                "rule": ticket.rule,
                "state": TicketState.RESERVED.value,
                "reserved_at": w.at,
            },
        )
        entry = w.post(
            EntryKind.STAKE_RESERVED,
            0,
            stake,
            f"reserve {ticket.ticket_id} by rule {ticket.rule}",
            race_id=ticket.race_id,
            ticket_id=ticket.ticket_id,
            decision_id=ticket.decision_id,
        )
        w.record(
            RecordType.PURCHASE_INTENT,
            {
                "ticket_id": ticket.ticket_id,
                "race_id": ticket.race_id,
                "decision_id": ticket.decision_id,
                "bet_type": ticket.bet_type,
                "combination": ticket.combination,
                "stake_yen": stake,
                "rule": ticket.rule,
            },
        )
        return entry

    def _move(self, w: _Write, row: Any, to: TicketState, **values: Any) -> None:
        """Change the ticket's state along a legal transition (the database checks it too)."""
        if to not in TRANSITIONS[TicketState(row.state)]:
            raise LedgerError(f"ticket {row.ticket_id!r} is {row.state}; it cannot become {to}")
        changed = w.conn.execute(
            update(tickets)
            .where(tickets.c.ticket_id == row.ticket_id, tickets.c.state == row.state)
            .values(state=to.value, **values)
        ).rowcount
        if changed != 1:
            raise AssertionError(f"ticket {row.ticket_id} changed under the chain lock")

    def _commit(
        self,
        w: _Write,
        row: Any,
        record_type: RecordType = RecordType.PLACEMENT,
        receipt: str | None = None,
        **facts: Any,
    ) -> dict[str, Any]:
        """Bought: the stake leaves the cash; `receipt` is recorded with it when given."""
        values: dict[str, Any] = {"placed_at": w.at}
        if receipt is not None:
            values["receipt"] = receipt
        self._move(w, row, TicketState.PLACED, **values)
        stake = int(row.stake_yen)
        entry = w.post(
            EntryKind.STAKE_COMMITTED,
            -stake,
            -stake,
            f"bought {row.ticket_id}",
            race_id=row.race_id,
            ticket_id=row.ticket_id,
            decision_id=row.decision_id,
        )
        payload = {"ticket_id": row.ticket_id, "race_id": row.race_id, "stake_yen": stake}
        if record_type != RecordType.PLACEMENT:
            payload["receipt"] = receipt
        w.record(record_type, {**payload, **facts})
        return entry

    def _free(
        self, w: _Write, row: Any, to: TicketState, record_type: RecordType, reason: str
    ) -> None:
        """Nothing bought: the ticket ends in `to` and its reservation is released."""
        self._move(w, row, to)
        w.post(
            EntryKind.RESERVATION_RELEASED,
            0,
            -int(row.stake_yen),
            f"{to.value} {row.ticket_id}: {reason}",
            race_id=row.race_id,
            ticket_id=row.ticket_id,
            decision_id=row.decision_id,
        )
        payload = {"ticket_id": row.ticket_id, "race_id": row.race_id, "reason": reason}
        if record_type == RecordType.RECONCILIATION:
            payload["present"] = False
        w.record(record_type, payload)


def _only(row: Any, state: TicketState, verb: str) -> None:
    if row.state != state:
        raise LedgerError(f"ticket {row.ticket_id!r} is {row.state}; only {state} is {verb}")


_PRINTABLE = re.compile(r"[!-~]+")


def _id(what: str, value: str | None, size: int) -> None:
    """Ids are 1 to `size` printable ASCII characters without spaces; the database's CHECKs
    refuse anything else on SQLite and PostgreSQL alike, and this says so first."""
    if value is None:
        return
    if not isinstance(value, str) or len(value) > size or not _PRINTABLE.fullmatch(value):
        raise LedgerError(
            f"{what} must be 1–{size} printable ASCII characters without spaces, was {value!r}"
        )


def _cause(cause: str) -> str:
    if not cause.strip():
        raise LedgerError("every entry names its cause")
    return cause.strip()


def _with_decision(ticket: Ticket, decision_id: str) -> Ticket:
    if ticket.decision_id not in (None, decision_id):
        raise LedgerError(f"ticket {ticket.ticket_id!r} belongs to decision {ticket.decision_id}")
    return Ticket(
        ticket.ticket_id,
        ticket.race_id,
        ticket.bet_type,
        ticket.combination,
        ticket.stake,
        ticket.rule,
        decision_id,
    )


def _summary(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The small, named inputs of a decision kept in clear (the rest only as a digest)."""
    keep = ("release_id", "canary", "model_version", "odds_as_of", "bankroll_yen", "policy")
    return {k: inputs[k] for k in keep if k in inputs}

"""The tables as the audit chain says they must be: accounts, decisions, tickets and entries.

`verify` feeds every record of a sound chain to `Evidence`, which replays it into the rows
the ledger must hold: the account opened, the decision recorded, the ticket reserved, placed,
confirmed, released or settled (each column taken from the record that set it, times from the
record's own time), and each ledger entry announced with the time of its record. `problems`
then compares the database with that, column by column, and names the first row that differs,
is missing or has no record, with the audit record that says otherwise. So a ticket turned from
a win into a refund, a stake raised, a purchase moved to another year or a winning ticket
deleted is found, though the chain itself is untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from keiba.bankroll.schema import EntryKind, accounts, decisions, entries, legs, tickets

__all__ = ["Evidence", "utc_iso"]

_DECISION_FIELDS = ("race_id", "rule", "inputs_sha256", "output_sha256")
_SIMPLE_MOVES = {
    "submission": "submitting",
    "rejection": "rejected",
    "unknown": "unknown",
    "release": "released",
}
_TICKET_CHANGES = frozenset(
    {"placement", "acceptance", "reconciliation", "confirmation", "settlement", *_SIMPLE_MOVES}
)
_INTENT_FIELDS = ("race_id", "decision_id", "bet_type", "combination", "stake_yen", "rule")


def utc_iso(value: Any) -> str | None:
    """A time as ISO 8601 UTC, whatever the database returned (SQLite: naive UTC)."""
    if value is None:
        return None
    at = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(at, dt.datetime):
        return str(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat()


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, int) and not isinstance(expected, bool):
        return isinstance(value, int) and value == expected
    return bool(value == expected)


@dataclass
class _Row:
    """A row the chain vouches for: its columns, and the record that set each one."""

    what: str
    values: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, tuple[int, str]] = field(default_factory=dict)

    def set(self, seq: int, record_type: str, **values: Any) -> None:
        for name, value in values.items():
            self.values[name] = value
            self.origin[name] = (seq, record_type)

    def differs(self, actual: Mapping[str, Any]) -> str | None:
        for name, expected in self.values.items():
            value = actual.get(name)
            if name.endswith("_at"):
                value, expected = utc_iso(value), utc_iso(expected)
            if not _same(value, expected):
                seq, record_type = self.origin[name]
                return (
                    f"{self.what}: {name} is {value!r} in the table, but {record_type} "
                    f"record {seq} says {expected!r}"
                )
        return None


class Evidence:
    """Rows replayed from the audit records of one chain, to compare with the tables."""

    def __init__(self) -> None:
        self.accounts: dict[str, _Row] = {}
        self.decisions: dict[str, _Row] = {}
        self.tickets: dict[str, _Row] = {}
        self.entries: dict[int, tuple[str, str, int]] = {}  # id → (entry key, time, record)
        self.problem: str | None = None

    def feed(
        self, seq: int, record: Mapping[str, Any], entry_keys: Iterable[tuple[int, str]]
    ) -> None:
        """Take one record (already checked against its hash) and the entries it announced."""
        kind, account, at = str(record.get("type")), record.get("account"), record.get("at")
        payload = record.get("payload") or {}
        for entry_id, key in entry_keys:
            self.entries[entry_id] = (key, utc_iso(at) or "", seq)
        if kind == "account_opened":
            row = self.accounts.setdefault(str(account), _Row(f"account {account}"))
            row.set(seq, kind, account=account, created_at=at)
        elif kind == "decision":
            did = str(payload.get("decision_id"))
            row = self.decisions.setdefault(did, _Row(f"decision {did}"))
            fields = {f: payload.get(f) for f in _DECISION_FIELDS}
            row.set(seq, kind, decision_id=did, account=account, created_at=at, **fields)
        elif kind == "purchase_intent":
            tid = str(payload.get("ticket_id"))
            row = self.tickets.setdefault(tid, _Row(f"ticket {tid}"))
            row.set(seq, kind, ticket_id=tid, account=account, state="reserved", reserved_at=at)
            row.set(seq, kind, placed_at=None, receipt=None, settled_at=None)
            row.set(seq, kind, payout_yen=None, outcome=None)
            row.set(seq, kind, **{f: payload.get(f) for f in _INTENT_FIELDS})
        elif kind in _TICKET_CHANGES:
            self._ticket_change(seq, kind, payload, at)

    def _ticket_change(self, seq: int, kind: str, payload: Mapping[str, Any], at: Any) -> None:
        tid = str(payload.get("ticket_id"))
        row = self.tickets.get(tid)
        if row is None:
            self.problem = self.problem or (
                f"{kind} record {seq} names ticket {tid}, which no earlier record reserved"
            )
            return
        bought = kind in ("placement", "acceptance") or (
            kind == "reconciliation" and payload.get("present")
        )
        if bought:
            row.set(seq, kind, state="placed", placed_at=at)
            if payload.get("receipt") is not None:
                row.set(seq, kind, receipt=payload.get("receipt"))
        elif kind == "confirmation":
            row.set(seq, kind, receipt=payload.get("receipt"))
        elif kind in _SIMPLE_MOVES:
            row.set(seq, kind, state=_SIMPLE_MOVES[kind])
        elif kind == "reconciliation":
            row.set(seq, kind, state="absent")
        else:
            row.set(seq, kind, state="settled", settled_at=at)
            row.set(seq, kind, payout_yen=payload.get("payout_yen"), outcome=payload.get("outcome"))

    def problems(self, conn: Connection, entry_key: Any) -> str | None:
        """The first row of the tables that the chain does not vouch for, as one sentence."""
        if self.problem:
            return self.problem
        for table, key, expected in (
            (accounts, "account", self.accounts),
            (decisions, "decision_id", self.decisions),
            (tickets, "ticket_id", self.tickets),
        ):
            found = _compare(conn, table, key, expected)
            if found:
                return found
        return self._entry_problems(conn, entry_key)

    def _entry_problems(self, conn: Connection, entry_key: Any) -> str | None:
        announced = dict(self.entries)
        for entry in conn.execute(select(entries).order_by(entries.c.entry_id)).mappings():
            entry_id = int(entry["entry_id"])
            found = announced.pop(entry_id, None)
            if found is None:
                return f"ledger entry {entry_id} has no audit record"
            key, at, seq = found
            if key != entry_key(dict(entry)):
                return f"ledger entry {entry_id} was changed (audit record {seq} says otherwise)"
            if utc_iso(entry["created_at"]) != at:
                return f"ledger entry {entry_id}: its time differs from audit record {seq}"
            owner, result = legs(EntryKind(entry["kind"]), int(entry["cash_yen"]))
            if (entry["owner_yen"], entry["result_yen"]) != (owner, result):
                return f"ledger entry {entry_id}: its owner and result legs do not balance its cash"
        if announced:
            entry_id = min(announced)
            return (
                f"ledger entry {entry_id} is in audit record {announced[entry_id][2]} "
                "but not in the ledger"
            )
        return None


def _compare(conn: Connection, table: Any, key: str, expected: dict[str, _Row]) -> str | None:
    remaining = dict(expected)
    for actual in conn.execute(select(table).order_by(table.c[key])).mappings():
        row = remaining.pop(str(actual[key]), None)
        if row is None:
            return f"{table.name} row {actual[key]} has no audit record"
        differs = row.differs(dict(actual))
        if differs:
            return differs
    if remaining:
        row = remaining[min(remaining)]
        seq, record_type = min(row.origin.values())
        return f"{row.what} of {record_type} record {seq} is missing from the {table.name} table"
    return None

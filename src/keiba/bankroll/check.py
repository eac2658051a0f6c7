"""Invariants of a ledger database, checked from the tables alone (for tests and `audit verify`).

Per account: entries numbered 1, 2, … without gaps; each entry balanced (its owner and result
legs are the ones its kind and cash leg call for, and the legs sum to zero); each entry's
running totals equal the sums of the legs so far; the available balance never negative. Per
ticket: exactly one reservation; a commitment or a release (never both) matching its state; at
most one payout or refund, equal to its recorded payout. The reservations outstanding equal the
stakes of the tickets still reserved.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select

from keiba.bankroll._db import reading
from keiba.bankroll.schema import (
    FREED,
    RESERVING,
    EntryKind,
    TicketState,
    entries,
    legs,
    tickets,
)

__all__ = ["check_invariants"]


def check_invariants(engine: Engine) -> list[str]:
    """Every broken invariant, as a sentence; empty when the books are consistent."""
    problems: list[str] = []
    with reading(engine) as conn:
        rows = list(conn.execute(select(entries).order_by(entries.c.account, entries.c.seq)))
        ticket_rows = list(conn.execute(select(tickets)))
    totals: dict[str, tuple[int, int, int, int, int]] = {}
    by_ticket: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for e in rows:
        seq, cash, reserved, owner, result = totals.get(e.account, (0, 0, 0, 0, 0))
        cash, reserved = cash + e.cash_yen, reserved + e.reserved_yen
        owner, result = owner + e.owner_yen, result + e.result_yen
        if e.seq != seq + 1:
            problems.append(f"{e.account}: entry {e.seq} follows entry {seq}")
        if (e.owner_yen, e.result_yen) != legs(EntryKind(e.kind), e.cash_yen):
            problems.append(f"{e.account}: entry {e.seq} is not balanced")
        after = (e.cash_after_yen, e.reserved_after_yen, e.owner_after_yen, e.result_after_yen)
        if after != (cash, reserved, owner, result):
            problems.append(f"{e.account}: entry {e.seq}'s running totals differ from the sums")
        if cash - reserved < 0 or reserved < 0:
            problems.append(f"{e.account}: negative available balance after entry {e.seq}")
        totals[e.account] = (e.seq, cash, reserved, owner, result)
        if e.ticket_id is not None:
            by_ticket[e.ticket_id][e.kind].append(e)
    outstanding: dict[str, int] = defaultdict(int)
    for t in ticket_rows:
        kinds = by_ticket.get(t.ticket_id, {})
        n = {k: len(kinds.get(k.value, [])) for k in EntryKind}
        committed = n[EntryKind.STAKE_COMMITTED]
        released = n[EntryKind.RESERVATION_RELEASED]
        paid = n[EntryKind.PAYOUT] + n[EntryKind.REFUND]
        state = TicketState(t.state)
        expected = (0, 1) if state in FREED else (0, 0) if state in RESERVING else (1, 0)
        if n[EntryKind.STAKE_RESERVED] != 1:
            problems.append(f"ticket {t.ticket_id}: {n[EntryKind.STAKE_RESERVED]} reservations")
        if (committed, released) != expected:
            problems.append(f"ticket {t.ticket_id} is {t.state} but has {committed} commitments")
        if paid > 1 or (paid and t.state != TicketState.SETTLED):
            problems.append(f"ticket {t.ticket_id} was paid {paid} times")
        if t.state == TicketState.SETTLED:
            credited = sum(
                int(e.cash_yen)
                for k in (EntryKind.PAYOUT, EntryKind.REFUND)
                for e in kinds.get(k.value, [])
            )
            if credited != int(t.payout_yen):
                problems.append(f"ticket {t.ticket_id}: paid {credited}, recorded {t.payout_yen}")
        if state in RESERVING:
            outstanding[t.account] += int(t.stake_yen)
    for account, (_, _, reserved, _, _) in totals.items():
        if reserved != outstanding.get(account, 0):
            problems.append(
                f"{account}: {reserved:,} yen reserved, but tickets holding reservations stake "
                f"{outstanding.get(account, 0):,} yen"
            )
    return problems

"""Reconcile the ledger with the venue's purchase history before anything is bought again.

A ticket whose purchase is unknown (the broker raised after it may have been sent, or the
process died while it was `submitting`) is never sent again on a guess. `reconcile_day` asks
for the venue's own record of the day (`Broker.history`: IPAT's 投票内容照会, the manual
broker's downloads, the paper broker's book; or a `HistoryFile` a person downloaded) and
settles the question ticket by ticket:

1. tickets still `submitting` (a process that died during the call) become `unknown`;
2. history rows that are the ledger's accepted tickets are set aside (by receipt, else by
   race, pool, selection and stake);
3. each `unknown` ticket is paired with a remaining row of the same race, pool, selection and
   stake (one row answers for one ticket): present → `placed` with the venue's receipt,
   absent → `absent` (its reservation released);
4. rows left over are tickets the venue has and the ledger lacks (bought by hand, or by a
   process whose records were lost): they are adopted — recorded as a decision of their own
   (`adopted from the venue's history`, id `adopt-<receipt>`), reserved, submitted and
   accepted with their receipt; once accepted, their receipt sets the row aside (step 2), so
   a row is adopted once.

If the history cannot be had, nothing changes and the reason is returned: an unknown ticket
stays unknown, its stake reserved, until a later reconciliation can prove it either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from keiba.bankroll import Ledger, Ticket
from keiba.bankroll.schema import TicketState
from keiba.common.errors import KeibaError, one_line
from keiba.common.money import Yen
from keiba.execution.channels import channel_of
from keiba.execution.history import HistoryRow, find_tickets

__all__ = ["ADOPTED_RULE", "HistoryFile", "HistorySource", "Reconciliation", "reconcile_day"]

ADOPTED_RULE = "adopted from the venue's history"


class HistorySource(Protocol):
    """Where the venue's record of a day comes from: a broker, or a downloaded file."""

    def history(self, day: dt.date) -> list[HistoryRow]: ...


@dataclass(frozen=True)
class HistoryFile:
    """The rows of a purchase-history file a person downloaded (`read_history_csv`)."""

    rows: tuple[HistoryRow, ...]

    @property
    def days(self) -> list[dt.date]:
        return sorted({r.day for r in self.rows})

    def history(self, day: dt.date) -> list[HistoryRow]:
        return [r for r in self.rows if r.day == day]


RaceResolver = Callable[[HistoryRow], str | None]
"""The 16-digit race id of a history row's race (the history names date, course and number,
not the meeting and day the id holds), or None when it is not known."""


@dataclass
class Reconciliation:
    """What one reconciliation of a day found and did."""

    day: dt.date
    present: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    unresolved: list[HistoryRow] = field(default_factory=list)
    """Rows the ledger lacks whose race could not be named (not adopted)."""
    failed: str = ""
    """Why the history could not be read (nothing was changed)."""

    @property
    def changed(self) -> bool:
        return bool(self.present or self.absent or self.adopted)

    def summary(self) -> str:
        if self.failed:
            return f"{self.day}: not reconciled: {self.failed}"
        parts = [
            f"{len(self.present)} unknown found at the venue",
            f"{len(self.absent)} absent",
            f"{len(self.adopted)} adopted",
        ]
        if self.unresolved:
            parts.append(f"{len(self.unresolved)} not adopted (race unknown)")
        return f"{self.day}: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "present": self.present,
            "absent": self.absent,
            "adopted": self.adopted,
            "unresolved": [r.receipt for r in self.unresolved],
            "failed": self.failed,
        }


def _ticket(row: dict[str, Any]) -> Ticket:
    return Ticket(
        row["ticket_id"],
        row["race_id"],
        row["bet_type"],
        row["combination"],
        Yen(int(row["stake_yen"])),
        row["rule"],
        row["decision_id"],
    )


def _of_day(ledger: Ledger, day: dt.date, channel: str | None) -> list[dict[str, Any]]:
    prefix = f"{day:%Y%m%d}"
    return [
        t
        for t in ledger.tickets()
        if str(t["race_id"]).startswith(prefix)
        and (channel is None or channel_of(str(t["ticket_id"])) == channel)
    ]


def _unclaimed(rows: Sequence[HistoryRow], accepted: Sequence[dict[str, Any]]) -> list[HistoryRow]:
    """The rows that are not the ledger's accepted tickets."""
    by_receipt = {t["receipt"] for t in accepted if t.get("receipt")}
    rest = [r for r in rows if r.receipt not in by_receipt]
    # accepted tickets whose receipt is not the venue's (a paper or manual receipt): by content
    venue_receipts = {r.receipt for r in rows}
    unmatched = [_ticket(t) for t in accepted if t.get("receipt") not in venue_receipts]
    claimed = {id(r) for r in find_tickets(unmatched, rest).values() if r is not None}
    return [r for r in rest if id(r) not in claimed]


def _adopt(ledger: Ledger, row: HistoryRow, race_id: str, channel: str | None) -> str:
    """Record a ticket the venue has and the ledger lacks; returns its ticket id."""
    suffix = f"@{channel}" if channel else ""
    decision_id = f"adopt-{row.receipt}{suffix}"
    ticket = Ticket(
        f"adopt-{row.receipt}-t{suffix}",
        race_id,
        row.bet_type.value,
        row.combination,
        Yen(row.stake),
        ADOPTED_RULE,
    )
    record = {
        "receipt": row.receipt,
        "day": row.day.isoformat(),
        "venue": row.venue.name,
        "race_no": row.race_no,
        "bet_type": row.bet_type.value,
        "combination": row.combination,
        "stake_yen": row.stake,
    }
    ledger.record_decision(
        race_id, ADOPTED_RULE, record, {"adopted": True}, [ticket], decision_id=decision_id
    )
    ledger.mark_submitting([ticket.ticket_id])
    ledger.accept(ticket.ticket_id, row.receipt)
    return ticket.ticket_id


def reconcile_day(
    ledger: Ledger,
    source: HistorySource,
    day: dt.date,
    *,
    resolve_race: RaceResolver | None = None,
    channel: str | None = None,
) -> Reconciliation:
    """Settle every unknown purchase of the account's races on `day` from the venue's history,
    and adopt what the venue has that the ledger lacks (see the module docstring). With
    `channel`, only that channel's tickets are weighed against `source` (its own history),
    and the tickets adopted from it carry its name (`keiba.execution.channels`)."""
    result = Reconciliation(day)
    tickets = _of_day(ledger, day, channel)
    submitting = [t["ticket_id"] for t in tickets if t["state"] == TicketState.SUBMITTING.value]
    try:
        rows = source.history(day)
    except Exception as e:  # whatever the source failed with, nothing is known: change nothing
        result.failed = str(e) if isinstance(e, KeibaError) else one_line(e)
        return result
    if submitting:
        ledger.mark_unknown(submitting, "still submitting when reconciled: the answer was lost")
        tickets = _of_day(ledger, day, channel)
    accepted = [
        t for t in tickets if t["state"] in (TicketState.PLACED.value, TicketState.SETTLED.value)
    ]
    free = _unclaimed(rows, accepted)
    unknown = [_ticket(t) for t in tickets if t["state"] == TicketState.UNKNOWN.value]
    found = find_tickets(unknown, free)
    for ticket in unknown:
        row = found[ticket.ticket_id]
        ledger.mark_reconciled(ticket.ticket_id, row is not None, row.receipt if row else None)
        (result.present if row is not None else result.absent).append(ticket.ticket_id)
    used = {id(r) for r in found.values() if r is not None}
    named = tickets if channel is None else _of_day(ledger, day, None)
    for row in (r for r in free if id(r) not in used):
        race_id = _race_id(row, named, resolve_race)
        if race_id is None:
            result.unresolved.append(row)
        else:
            result.adopted.append(_adopt(ledger, row, race_id, channel))
    return result


def _race_id(
    row: HistoryRow, tickets: Sequence[dict[str, Any]], resolve: RaceResolver | None
) -> str | None:
    known = next((str(t["race_id"]) for t in tickets if row.is_race(str(t["race_id"]))), None)
    return known or (resolve(row) if resolve else None)

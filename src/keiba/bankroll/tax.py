"""The yearly tax report: every purchase, daily and annual totals, income both ways, and the
evidence that buying was systematic.

- 雑所得 (miscellaneous income): all payouts − all stakes.
- 一時所得 (occasional income): winning tickets' payouts − their stakes − the special deduction
  (up to 500,000 yen), when positive; half of it is taxable.
- Systematic buying: the share of races bought whose every ticket came from a recorded
  decision naming its rule.

Purchases are placed tickets (settled or not), dated by purchase time in JST. A refunded ticket
(返還) is listed but counts as neither stake nor payout. All amounts are integer yen.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from keiba.bankroll._db import reading
from keiba.bankroll.schema import TicketState, decisions, tickets
from keiba.common.clock import JST

__all__ = ["SPECIAL_DEDUCTION_YEN", "DayTotal", "Purchase", "TaxReport", "tax_report"]

SPECIAL_DEDUCTION_YEN = 500_000


@dataclass(frozen=True)
class Purchase:
    placed_at: dt.datetime
    race_id: str
    ticket_id: str
    bet_type: str
    combination: str
    stake_yen: int
    payout_yen: int | None
    outcome: str | None
    rule: str
    decision_id: str | None
    receipt: str | None


@dataclass(frozen=True)
class DayTotal:
    day: dt.date
    tickets: int
    stake_yen: int
    payout_yen: int


@dataclass(frozen=True)
class TaxReport:
    year: int
    account: str
    purchases: list[Purchase]
    days: list[DayTotal]
    stake_yen: int
    payout_yen: int
    winning_stake_yen: int
    winning_payout_yen: int
    unsettled: int
    races: int
    races_by_recorded_rule: int
    notes: list[str] = field(default_factory=list)

    @property
    def miscellaneous_income_yen(self) -> int:
        """雑所得: all payouts − all stakes."""
        return self.payout_yen - self.stake_yen

    @property
    def occasional_income_yen(self) -> int:
        """一時所得: winning payouts − their stakes − the special deduction, when positive."""
        return max(0, self.winning_payout_yen - self.winning_stake_yen - SPECIAL_DEDUCTION_YEN)

    @property
    def occasional_taxable_yen(self) -> int:
        """Half of 一時所得 (rounded down to the yen) is added to taxable income."""
        return self.occasional_income_yen // 2

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [
                "placed_at_jst",
                "race_id",
                "ticket_id",
                "bet_type",
                "combination",
                "stake_yen",
                "payout_yen",
                "outcome",
                "rule",
                "decision_id",
                "receipt",
            ]
        )
        for p in self.purchases:
            writer.writerow(
                [
                    p.placed_at.astimezone(JST).isoformat(),
                    p.race_id,
                    p.ticket_id,
                    p.bet_type,
                    p.combination,
                    p.stake_yen,
                    "" if p.payout_yen is None else p.payout_yen,
                    p.outcome or "unsettled",
                    p.rule,
                    p.decision_id or "",
                    p.receipt or "",
                ]
            )
        return buffer.getvalue()


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def tax_report(engine: Engine, year: int, account: str = "main") -> TaxReport:
    start = dt.datetime(year, 1, 1, tzinfo=JST)
    end = dt.datetime(year + 1, 1, 1, tzinfo=JST)
    with reading(engine) as conn:
        recorded = set(
            conn.execute(select(decisions.c.decision_id).where(decisions.c.account == account))
            .scalars()
            .all()
        )
        rows = conn.execute(
            select(tickets)
            .where(
                tickets.c.account == account,
                tickets.c.state.in_([TicketState.PLACED.value, TicketState.SETTLED.value]),
            )
            .order_by(tickets.c.placed_at, tickets.c.ticket_id)
        ).all()
    purchases = []
    for r in rows:
        placed = _aware(r.placed_at)
        if not start <= placed < end:
            continue
        purchases.append(
            Purchase(
                placed,
                r.race_id,
                r.ticket_id,
                r.bet_type,
                r.combination,
                int(r.stake_yen),
                None if r.payout_yen is None else int(r.payout_yen),
                r.outcome,
                r.rule,
                r.decision_id,
                r.receipt,
            )
        )
    days: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0, 0])
    stake = payout = win_stake = win_payout = unsettled = 0
    race_ruled: dict[str, bool] = {}
    for p in purchases:
        ruled = bool(p.rule) and p.decision_id in recorded
        race_ruled[p.race_id] = race_ruled.get(p.race_id, True) and ruled
        day = days[p.placed_at.astimezone(JST).date()]
        day[0] += 1
        if p.outcome == "refund":
            continue
        if p.payout_yen is None:
            unsettled += 1
        stake += p.stake_yen
        payout += p.payout_yen or 0
        day[1] += p.stake_yen
        day[2] += p.payout_yen or 0
        if p.payout_yen:
            win_stake += p.stake_yen
            win_payout += p.payout_yen
    notes = []
    if unsettled:
        notes.append(f"{unsettled} ticket(s) not settled yet: counted as stakes without payout")
    return TaxReport(
        year=year,
        account=account,
        purchases=purchases,
        days=[DayTotal(d, *v) for d, v in sorted(days.items())],
        stake_yen=stake,
        payout_yen=payout,
        winning_stake_yen=win_stake,
        winning_payout_yen=win_payout,
        unsettled=unsettled,
        races=len(race_ruled),
        races_by_recorded_rule=sum(race_ruled.values()),
        notes=notes,
    )

"""Replay: races through the engine in the order their decisions and results happen.

`Replay.race` is called for every race in decision order, with the simulated clock. It settles
every race whose result is due (its settlement time has passed), opens a new race day when the
date changes (settling everything still open first), then lets the engine decide the race
(`RaceEngine`: monitor, Themis, execution, the ledger) and lets each shadow strategy decide with
an in-memory account of its own. Shadows are what the caller compares the engine with (the
backtest's baselines); they buy nothing and touch no ledger.

Everything the replay saw lands in plain rows: `tickets` (every settled ticket of every
strategy), `days` (each strategy's day) and `outcomes` (each race's end for the engine: bought,
passed or skipped, with the reason).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.errors import KeibaError
from keiba.engine.race import RaceEngine, RaceInputs, RaceOutcome, RaceResult, Status
from keiba.market.settlement import settle_ticket

__all__ = ["ENGINE", "Account", "Replay", "ReplayRace", "Shadow", "ShadowBet", "move_clock"]

ENGINE = "themis"
"""The strategy name of the engine's own tickets."""


@dataclass
class Account:
    """One strategy's money during the replay (the engine's mirrors its ledger)."""

    strategy: str
    cash: int
    open_stakes: int = 0
    day_start: int = 0
    staked_today: int = 0
    tickets_today: int = 0
    returned_today: int = 0
    races_today: int = 0
    races_bet_today: int = 0
    peak: int = 0

    @property
    def equity(self) -> int:
        """Cash plus stakes of tickets not yet settled (at cost)."""
        return self.cash + self.open_stakes


@dataclass(frozen=True)
class ReplayRace:
    """A race to replay: the engine's inputs, and what shadows and reports need beside them."""

    inputs: RaceInputs
    seq: int
    settle_at: dt.datetime
    p_model: Mapping[int, float]
    p_market: Mapping[int, float]
    win_odds: Mapping[int, float]
    """The win odds at decision time."""
    final_odds: Mapping[int, float]

    @property
    def race_id(self) -> str:
        return self.inputs.race_id


@dataclass(frozen=True)
class ShadowBet:
    bet_type: BetType
    combination: str
    stake: int
    probability: float
    odds: float


class Shadow(Protocol):
    """A strategy replayed beside the engine with an in-memory account."""

    @property
    def name(self) -> str: ...

    def bets(self, race: ReplayRace, account: Account) -> Sequence[ShadowBet]: ...


@dataclass(order=True)
class _Pending:
    settle_at: dt.datetime
    seq: int
    strategy: str = field(compare=False)
    race_id: str = field(compare=False)
    tickets: list[dict[str, Any]] = field(compare=False)


def move_clock(clock: FixedClock, to: dt.datetime) -> None:
    if to > clock.now():
        clock.advance(to - clock.now())


class Replay:
    """The event loop: decisions and settlements in time order, days closed as they end."""

    def __init__(
        self,
        engine: RaceEngine,
        clock: FixedClock,
        results: Mapping[str, RaceResult],
        shadows: Sequence[Shadow] = (),
        *,
        start_yen: int,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.results = results
        self.shadows = list(shadows)
        names = [ENGINE, *(s.name for s in self.shadows)]
        self.accounts = {
            s: Account(s, start_yen, day_start=start_yen, peak=start_yen) for s in names
        }
        self.pending: list[_Pending] = []
        self.tickets: list[dict[str, Any]] = []
        self.days: list[dict[str, Any]] = []
        self.outcomes: list[RaceOutcome] = []
        self.day: dt.date | None = None
        self._seq = 0

    # --- days ------------------------------------------------------------------------------

    def _close_day(self) -> None:
        while self.pending:
            self._settle(heapq.heappop(self.pending))
        if self.day is None:
            return
        for account in self.accounts.values():
            self.days.append(
                {
                    "strategy": account.strategy,
                    "race_date": self.day,
                    "start_yen": account.day_start,
                    "staked_yen": account.staked_today,
                    "returned_yen": account.returned_today,
                    "end_yen": account.equity,
                    "races": account.races_today,
                    "races_bet": account.races_bet_today,
                }
            )

    def _open_day(self, day: dt.date) -> None:
        self._close_day()
        self.day = day
        for account in self.accounts.values():
            account.day_start = account.equity
            account.staked_today = account.tickets_today = account.returned_today = 0
            account.races_today = account.races_bet_today = 0

    # --- settlement ------------------------------------------------------------------------

    def _settle(self, pending: _Pending) -> None:
        move_clock(self.clock, pending.settle_at)
        result = self.results[pending.race_id]
        account = self.accounts[pending.strategy]
        if pending.strategy == ENGINE:
            paid = {
                s.ticket_id: (s.paid, s.refund) for s in self.engine.settle(pending.race_id, result)
            }
            missing = [t["ticket_id"] for t in pending.tickets if t["ticket_id"] not in paid]
            if missing:
                raise KeibaError(f"tickets {', '.join(missing)} were settled twice")
        else:
            paid = {}
            for ticket in pending.tickets:
                outcome = settle_ticket(
                    BetType(ticket["bet_type"]),
                    ticket["combination"],
                    ticket["stake_yen"],
                    result.payouts,
                    result.statuses,
                    result.frames or None,
                )
                paid[ticket["ticket_id"]] = (int(outcome.paid), outcome.refund)
        for ticket in pending.tickets:
            amount, refund = paid[ticket["ticket_id"]]
            account.open_stakes -= ticket["stake_yen"]
            account.cash += amount
            account.returned_today += amount
            account.peak = max(account.peak, account.equity)
            self.tickets.append(
                {**ticket, "paid_yen": amount, "refund": refund, "hit": amount > 0 and not refund}
            )

    def settle_until(self, at: dt.datetime) -> None:
        while self.pending and self.pending[0].settle_at <= at:
            self._settle(heapq.heappop(self.pending))

    # --- decisions -------------------------------------------------------------------------

    def _row(
        self, race: ReplayRace, strategy: str, bet: ShadowBet, bankroll_yen: int
    ) -> dict[str, Any]:
        final = race.final_odds.get(int(bet.combination)) if bet.bet_type is BetType.WIN else None
        return {
            "strategy": strategy,
            "race_id": race.race_id,
            "race_date": race.inputs.race_date,
            "race_seq": race.seq,
            "bet_type": bet.bet_type.value,
            "combination": bet.combination,
            "stake_yen": bet.stake,
            "probability": bet.probability,
            "decision_odds": bet.odds,
            "final_odds": final,
            "bankroll_yen": bankroll_yen,
            "ticket_id": f"{race.race_id}-{strategy}-{bet.bet_type.value}-{bet.combination}",
        }

    def _queue(self, race: ReplayRace, strategy: str, rows: list[dict[str, Any]]) -> None:
        account = self.accounts[strategy]
        account.races_today += 1
        if not rows:
            return
        stake = sum(r["stake_yen"] for r in rows)
        account.cash -= stake
        account.open_stakes += stake
        account.staked_today += stake
        account.tickets_today += len(rows)
        account.races_bet_today += 1
        self._seq += 1
        heapq.heappush(
            self.pending, _Pending(race.settle_at, self._seq, strategy, race.race_id, rows)
        )

    def _engine(self, race: ReplayRace) -> None:
        bankroll_yen = max(self.accounts[ENGINE].cash, 0)
        outcome = self.engine.decide(race.inputs)
        self.outcomes.append(outcome)
        rows = [
            self._row(
                race,
                ENGINE,
                ShadowBet(
                    BetType(p.ticket.bet_type),
                    p.ticket.combination,
                    p.ticket.stake,
                    p.probability,
                    p.odds,
                ),
                bankroll_yen,
            )
            for p in outcome.placed
        ]
        self._queue(race, ENGINE, rows)

    def _shadow(self, race: ReplayRace, shadow: Shadow) -> None:
        account = self.accounts[shadow.name]
        bankroll_yen = max(account.cash, 0)
        rows = [self._row(race, shadow.name, b, bankroll_yen) for b in shadow.bets(race, account)]
        self._queue(race, shadow.name, rows)

    def race(self, race: ReplayRace) -> None:
        if race.inputs.race_date != self.day:
            self._open_day(race.inputs.race_date)
        self.settle_until(race.inputs.decision_at)
        move_clock(self.clock, race.inputs.decision_at)
        self._engine(race)
        for shadow in self.shadows:
            self._shadow(race, shadow)

    def finish(self) -> None:
        self._close_day()

    @property
    def decisions(self) -> int:
        """Races the engine bought (each recorded with its inputs in the ledger)."""
        return sum(o.status is Status.BOUGHT for o in self.outcomes)

    @property
    def skipped(self) -> int:
        return sum(o.status is Status.SKIPPED for o in self.outcomes)

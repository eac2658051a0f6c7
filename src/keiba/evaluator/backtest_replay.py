"""The backtest's event loop: decisions and settlements in the order they happen.

`Replay.race` is called for every race in decision order. It settles every ticket whose result
is due (the race's post time + delay has passed), opens a new race day when the date changes
(settling everything still open first), and lets each strategy decide: Themis through the
monitor, `keiba.execution` and the ledger; the baselines (favourite, model's top pick, Themis on
the market's probabilities) with in-memory accounts. Every ticket is settled by
`keiba.market.settlement` against the official payouts; `bets` and `daily` collect the rows
of `backtest_frames`.
"""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from keiba.bankroll import Ledger, Ticket
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, ThemisConfig
from keiba.common.errors import KeibaError
from keiba.evaluator.backtest_frames import BETS_SCHEMA, STRATEGIES
from keiba.execution import PaperBroker, execute_decision
from keiba.market.settlement import settle_ticket
from keiba.monitor import BetOutcome, MemorySink, Monitor, apply_to_policy
from keiba.themis import Bankroll, Decision, decide

__all__ = ["Account", "Replay", "ReplayRace", "replay_races"]


@dataclass
class Account:
    """One strategy's money during the replay (the Themis one mirrors its ledger)."""

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


@dataclass(order=True)
class Pending:
    settle_at: dt.datetime
    seq: int
    strategy: str = field(compare=False)
    race_id: str = field(compare=False)
    tickets: list[dict[str, Any]] = field(compare=False)


@dataclass
class ReplayRace:
    race_id: str
    race_date: dt.date
    seq: int
    decision_at: dt.datetime
    settle_at: dt.datetime
    horses: list[int]
    frames: dict[int, int]
    p_model: dict[int, float]
    p_combined: dict[int, float]
    p_market: dict[int, float]
    odds: dict[int, float]
    final_odds: dict[int, float]
    odds_source: str
    model_version: str


def move_clock(clock: FixedClock, to: dt.datetime) -> None:
    if to > clock.now():
        clock.advance(to - clock.now())


class Replay:
    """The event loop: decisions and settlements in time order, days closed as they end."""

    def __init__(
        self,
        config: KeibaConfig,
        ledger: Ledger,
        clock: FixedClock,
        payouts: dict[str, dict[tuple[str, str], int]],
        statuses: dict[str, dict[int, str]],
        exotic_odds: dict[str, dict[str, dict[str, float]]],
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.clock = clock
        self.payouts = payouts
        self.statuses = statuses
        self.exotic_odds = exotic_odds
        self.broker = PaperBroker()
        start = config.backtest.bankroll_yen
        self.accounts = {s: Account(s, start, day_start=start, peak=start) for s in STRATEGIES}
        self.policy = config.themis.model_copy(
            update={"bet_types": tuple(b for b in config.themis.bet_types if b in self._pools)}
        )
        self.alerts = MemorySink()
        self.monitor = (
            Monitor.for_ledger(config.monitor, clock, ledger, [self.alerts])
            if config.backtest.monitor
            else None
        )
        self.pending: list[Pending] = []
        self.bets: list[dict[str, Any]] = []
        self.daily: list[dict[str, Any]] = []
        self.outcomes: list[BetOutcome] = []
        self.day: dt.date | None = None
        self.skipped_by_monitor = 0
        self.decisions = 0
        self._seq = 0

    @property
    def _pools(self) -> set[BetType]:
        return set(self.config.backtest.pools)

    # --- days ------------------------------------------------------------------------------

    def _close_day(self) -> None:
        while self.pending:
            self._settle(heapq.heappop(self.pending))
        if self.day is None:
            return
        for account in self.accounts.values():
            self.daily.append(
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

    def _settle(self, pending: Pending) -> None:
        move_clock(self.clock, pending.settle_at)
        account = self.accounts[pending.strategy]
        race_payouts = self.payouts.get(pending.race_id, {})
        statuses = self.statuses[pending.race_id]
        for ticket in pending.tickets:
            outcome = settle_ticket(
                BetType(ticket["bet_type"]),
                ticket["combination"],
                ticket["stake_yen"],
                race_payouts,
                statuses,
                ticket["frames"],
            )
            if pending.strategy == "themis":
                result = self.ledger.settle(
                    ticket["ticket_id"], outcome.paid, refund=outcome.refund
                )
                if not result.settled_now:
                    raise KeibaError(f"ticket {ticket['ticket_id']} was settled twice")
                if not outcome.refund:
                    self.outcomes.append(
                        BetOutcome(
                            ticket["probability"],
                            ticket["decision_odds"],
                            ticket["stake_yen"],
                            outcome.paid,
                        )
                    )
            account.open_stakes -= ticket["stake_yen"]
            account.cash += outcome.paid
            account.returned_today += outcome.paid
            account.peak = max(account.peak, account.equity)
            row = {k: v for k, v in ticket.items() if k in BETS_SCHEMA}
            row.update(
                paid_yen=outcome.paid,
                refund=outcome.refund,
                hit=outcome.label == "won",
            )
            self.bets.append(row)

    def settle_until(self, at: dt.datetime) -> None:
        while self.pending and self.pending[0].settle_at <= at:
            self._settle(heapq.heappop(self.pending))

    # --- decisions -------------------------------------------------------------------------

    def _ticket_row(
        self,
        race: ReplayRace,
        strategy: str,
        bet_type: str,
        combination: str,
        stake: int,
        probability: float,
        odds: float,
    ) -> dict[str, Any]:
        final = race.final_odds.get(int(combination)) if bet_type == "win" else None
        return {
            "strategy": strategy,
            "race_id": race.race_id,
            "race_date": race.race_date,
            "race_seq": race.seq,
            "bet_type": bet_type,
            "combination": combination,
            "stake_yen": stake,
            "probability": probability,
            "decision_odds": odds,
            "final_odds": final,
            "bankroll_yen": max(self.accounts[strategy].cash, 0),
            "frames": race.frames,
            "ticket_id": f"{race.race_id}-{strategy}-{bet_type}-{combination}",
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
            self.pending, Pending(race.settle_at, self._seq, strategy, race.race_id, rows)
        )

    def _offers(self, race: ReplayRace) -> dict[BetType, dict[str, float]]:
        offers: dict[BetType, dict[str, float]] = {}
        if BetType.WIN in self._pools:
            offers[BetType.WIN] = {str(h): o for h, o in race.odds.items()}
        paid_pools = {bet for bet, _ in self.payouts.get(race.race_id, {})}
        for bet_type, quotes in self.exotic_odds.get(race.race_id, {}).items():
            # a pool without payout rows could never be settled: it is not offered
            if BetType(bet_type) in self._pools and bet_type in paid_pools:
                offers[BetType(bet_type)] = quotes
        return offers

    def _decide(
        self,
        race: ReplayRace,
        offers: dict[BetType, dict[str, float]],
        probabilities: dict[int, float],
        account: Account,
        policy: ThemisConfig,
    ) -> tuple[Decision, Bankroll]:
        bankroll = Bankroll(
            max(account.cash, 0), account.staked_today, account.tickets_today, account.day_start
        )
        frames = race.frames if BetType.BRACKET_QUINELLA in self._pools else None
        return decide(probabilities, offers, bankroll, policy, frames=frames), bankroll

    def _themis(self, race: ReplayRace, offers: dict[BetType, dict[str, float]]) -> None:
        account = self.accounts["themis"]
        policy = self.policy
        if self.monitor is not None:
            report = self.monitor.check(
                peak_yen=account.peak,
                balance_yen=account.equity,
                bets=self.outcomes,
                last_odds_at=self.clock.now(),
                last_result_at=self.clock.now(),
            )
            if report.stop_buying:
                self.skipped_by_monitor += 1
                self._queue(race, "themis", [])
                return
            policy = apply_to_policy(policy, report)
        decision, bankroll = self._decide(race, offers, race.p_combined, account, policy)
        rows = [
            self._ticket_row(
                race, "themis", b.bet_type.value, b.combination, int(b.stake), b.probability, b.odds
            )
            for b in decision.bets
        ]
        if rows:
            tickets = [
                Ticket(
                    r["ticket_id"],
                    race.race_id,
                    r["bet_type"],
                    r["combination"],
                    r["stake_yen"],
                    b.rule,
                )
                for r, b in zip(rows, decision.bets, strict=True)
            ]
            inputs = {
                "model_version": race.model_version,
                "probabilities": race.p_combined,
                "odds": {b.value: q for b, q in offers.items()},
                "odds_source": race.odds_source,
                "decision_at": race.decision_at.isoformat(),
                "bankroll": {
                    "balance_yen": bankroll.balance_yen,
                    "staked_today_yen": bankroll.staked_today_yen,
                    "tickets_today": bankroll.tickets_today,
                    "day_start_yen": bankroll.day_start_yen,
                },
                "policy": policy.model_dump(mode="json"),
            }
            executed = execute_decision(
                self.ledger,
                self.broker,
                decision_id=f"{race.race_id}-themis",
                race_id=race.race_id,
                rule="themis",
                inputs=inputs,
                output=decision.to_dict(),
                tickets=tickets,
            )
            placed = {t.ticket_id for t in executed.placed}
            rows = [r for r in rows if r["ticket_id"] in placed]
            self.decisions += 1
        self._queue(race, "themis", rows)

    def _flat(self, race: ReplayRace, strategy: str, horse: int, probability: float) -> None:
        stake = self.config.backtest.baseline_stake_yen
        account = self.accounts[strategy]
        rows = []
        if account.cash >= stake:
            rows.append(
                self._ticket_row(
                    race, strategy, "win", str(horse), stake, probability, race.odds[horse]
                )
            )
        self._queue(race, strategy, rows)

    def _themis_market(self, race: ReplayRace, offers: dict[BetType, dict[str, float]]) -> None:
        account = self.accounts["themis_market"]
        decision, _ = self._decide(race, offers, race.p_market, account, self.policy)
        rows = [
            self._ticket_row(
                race,
                "themis_market",
                b.bet_type.value,
                b.combination,
                int(b.stake),
                b.probability,
                b.odds,
            )
            for b in decision.bets
        ]
        self._queue(race, "themis_market", rows)

    def race(self, race: ReplayRace) -> None:
        if race.race_date != self.day:
            self._open_day(race.race_date)
        self.settle_until(race.decision_at)
        move_clock(self.clock, race.decision_at)
        offers = self._offers(race)
        self._themis(race, offers)
        favourite = min(race.horses, key=lambda h: (race.odds[h], h))
        self._flat(race, "favourite", favourite, race.p_market[favourite])
        top = max(race.horses, key=lambda h: (race.p_model[h], -h))
        self._flat(race, "top_pick", top, race.p_model[top])
        self._themis_market(race, offers)

    def finish(self) -> None:
        self._close_day()


def replay_races(frame: pl.DataFrame) -> list[ReplayRace]:
    races = []
    ordered = frame.sort("decision_at", "venue_code", "race_id", "horse_no")
    for seq, ((race_id,), rows) in enumerate(ordered.group_by("race_id", maintain_order=True)):
        horses = rows["horse_no"].to_list()

        def by_horse(column: str, rows: pl.DataFrame = rows, horses: list[int] = horses) -> Any:
            return dict(zip(horses, rows[column].to_list(), strict=True))

        races.append(
            ReplayRace(
                race_id=str(race_id),
                race_date=rows["race_date"][0],
                seq=seq,
                decision_at=rows["decision_at"][0],
                settle_at=rows["settle_at"][0],
                horses=horses,
                frames=by_horse("frame_no"),
                p_model=by_horse("p_model"),
                p_combined=by_horse("p_combined"),
                p_market=by_horse("p_market"),
                odds=by_horse("decision_odds"),
                final_odds=by_horse("final_odds"),
                odds_source=str(rows["odds_source"][0]),
                model_version=str(rows["model_version"][0]),
            )
        )
    return races

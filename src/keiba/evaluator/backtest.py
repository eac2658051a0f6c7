"""The backtester (`keiba backtest`): replay history through the code used live.

For every test month (`keiba.evaluator.walk_forward`) a model is trained on the race days
before it and its market stage fitted; the month's races are priced at decision time and
replayed in the order their decisions and results happen:

- at each race's decision time the monitor checks the paper account (drawdown tiers, luck
  bands), Themis decides from the combined probabilities, the decided odds and the account
  (balance, what today has staked), and `keiba.execution` records the decision, reserves the
  stakes, submits to the paper broker and commits what it accepts — in the backtest's own
  ledger database, never the user's;
- at each race's settlement time (post time + delay; every race still open is settled before
  the next race day) tickets are settled by JRA rules against the real payouts: dead heats pay
  every listed combination, scratched runners are refunded, place and wide pay only what the
  payouts list for the field size.

On the same races three baselines run with in-memory accounts: the favourite (lowest decision
odds) and the model's top pick (highest `p_model`) for a flat stake, and Themis fed the
market's own probabilities. Everything lands in a run directory (`backtest_frames`).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from keiba.bankroll import Ledger, Ticket
from keiba.bankroll.audit import verify
from keiba.common.bet_types import BetType
from keiba.common.clock import Clock, FixedClock
from keiba.common.config import KeibaConfig, ThemisConfig
from keiba.common.errors import KeibaError
from keiba.common.logging import get_logger
from keiba.common.storage import DuckDBWarehouse, create_ledger_engine
from keiba.evaluator.backtest_frames import (
    BETS_SCHEMA,
    DAILY_SCHEMA,
    PREDICTIONS_SCHEMA,
    STRATEGIES,
)
from keiba.evaluator.backtest_metrics import all_metrics
from keiba.evaluator.evaluation import incomplete_races
from keiba.evaluator.settlement import settle_ticket
from keiba.evaluator.walk_forward import (
    WindowModel,
    plan_windows,
    predict,
    priced_races,
    train_window,
)
from keiba.execution import PaperBroker, execute_decision
from keiba.monitor import BetOutcome, MemorySink, Monitor, apply_to_policy
from keiba.themis import Bankroll, decide

__all__ = ["BacktestResult", "run_backtest"]

log = get_logger(__name__)

Progress = Callable[[str, int, int], None]
ACCOUNT = "backtest"


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class BacktestResult:
    directory: Path
    result: dict[str, Any]


@dataclass
class _Account:
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
class _Pending:
    settle_at: dt.datetime
    seq: int
    strategy: str = field(compare=False)
    race_id: str = field(compare=False)
    tickets: list[dict[str, Any]] = field(compare=False)


@dataclass
class _Race:
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


def _move_clock(clock: FixedClock, to: dt.datetime) -> None:
    if to > clock.now():
        clock.advance(to - clock.now())


class _Replay:
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
        self.accounts = {s: _Account(s, start, day_start=start, peak=start) for s in STRATEGIES}
        self.policy = config.themis.model_copy(
            update={"bet_types": tuple(b for b in config.themis.bet_types if b in self._pools)}
        )
        self.alerts = MemorySink()
        self.monitor = (
            Monitor.for_ledger(config.monitor, clock, ledger, [self.alerts])
            if config.backtest.monitor
            else None
        )
        self.pending: list[_Pending] = []
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

    def _settle(self, pending: _Pending) -> None:
        _move_clock(self.clock, pending.settle_at)
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
        race: _Race,
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
            "frames": race.frames,
            "ticket_id": f"{race.race_id}-{strategy}-{bet_type}-{combination}",
        }

    def _queue(self, race: _Race, strategy: str, rows: list[dict[str, Any]]) -> None:
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

    def _offers(self, race: _Race) -> dict[BetType, dict[str, float]]:
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
        self, race: _Race, probabilities: dict[int, float], account: _Account, policy: ThemisConfig
    ) -> Any:
        bankroll = Bankroll(
            max(account.cash, 0), account.staked_today, account.tickets_today, account.day_start
        )
        frames = race.frames if BetType.BRACKET_QUINELLA in self._pools else None
        return decide(probabilities, self._offers(race), bankroll, policy, frames=frames), bankroll

    def _themis(self, race: _Race) -> None:
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
        decision, bankroll = self._decide(race, race.p_combined, account, policy)
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
                "odds": {b.value: q for b, q in self._offers(race).items()},
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

    def _flat(self, race: _Race, strategy: str, horse: int, probability: float) -> None:
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

    def _themis_market(self, race: _Race) -> None:
        account = self.accounts["themis_market"]
        decision, _ = self._decide(race, race.p_market, account, self.policy)
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

    def race(self, race: _Race) -> None:
        if race.race_date != self.day:
            self._open_day(race.race_date)
        self.settle_until(race.decision_at)
        _move_clock(self.clock, race.decision_at)
        self._themis(race)
        favourite = min(race.horses, key=lambda h: (race.odds[h], h))
        self._flat(race, "favourite", favourite, race.p_market[favourite])
        top = max(race.horses, key=lambda h: (race.p_model[h], -h))
        self._flat(race, "top_pick", top, race.p_model[top])
        self._themis_market(race)

    def finish(self) -> None:
        self._close_day()


def _races(frame: pl.DataFrame) -> list[_Race]:
    races = []
    ordered = frame.sort("decision_at", "venue_code", "race_id", "horse_no")
    for seq, ((race_id,), rows) in enumerate(ordered.group_by("race_id", maintain_order=True)):
        horses = rows["horse_no"].to_list()

        def by_horse(column: str, rows: pl.DataFrame = rows, horses: list[int] = horses) -> Any:
            return dict(zip(horses, rows[column].to_list(), strict=True))

        races.append(
            _Race(
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


def _payouts(
    warehouse: DuckDBWarehouse, race_ids: list[str]
) -> dict[str, dict[tuple[str, str], int]]:
    found = warehouse.query(
        "SELECT race_id, bet_type, combination, payout_yen FROM payouts "
        "WHERE race_id IN (SELECT unnest(?))",
        [race_ids],
    )
    payouts: dict[str, dict[tuple[str, str], int]] = {}
    for race_id, bet, combination, paid in found.iter_rows():
        payouts.setdefault(race_id, {})[(bet, combination)] = int(paid)
    return payouts


def _statuses(warehouse: DuckDBWarehouse, race_ids: list[str]) -> dict[str, dict[int, str]]:
    found = warehouse.query(
        "SELECT race_id, horse_no, status FROM runners WHERE race_id IN (SELECT unnest(?))",
        [race_ids],
    )
    statuses: dict[str, dict[int, str]] = {}
    for race_id, horse, status in found.iter_rows():
        statuses.setdefault(race_id, {})[int(horse)] = str(status)
    return statuses


def _caveats(frame: pl.DataFrame, config: KeibaConfig, incomplete: int, windows: int) -> list[str]:
    races = frame.unique("race_id")
    by_source = dict(races.group_by("odds_source").len().iter_rows())
    drift = config.backtest.odds_drift
    caveats = []
    if by_source.get("final"):
        caveats.append(
            f"{by_source['final']:,} races were decided at their FINAL odds, which include the "
            "last minutes' money and could not be bet at: the result flatters (DOMAIN.md §3). "
            "Set backtest.odds_drift to model the late moves."
        )
    if by_source.get("final+drift"):
        caveats.append(
            f"{by_source['final+drift']:,} races have only final odds in the data: decisions "
            f"used them moved by a late-drift model (lognormal, σ = {drift.sigma:g} on implied "
            f"probabilities, seed {drift.seed}) — an assumption, not a measurement; payouts are "
            "the real final ones."
        )
    estimated = int(races["post_estimated"].sum())
    if estimated:
        caveats.append(
            f"Post times of {estimated:,} races are unknown in the data and were estimated from "
            "the race number and the venue's place in the day (R1 at 10:00 JST, 30 min apart)."
        )
    if incomplete:
        caveats.append(
            f"{incomplete:,} races in the period lack rows for some declared runners (runners "
            "that did not finish are missing from the source); they are neither bet nor scored."
        )
    caveats.append(
        f"The model was trained {'once' if windows == 1 else f'{windows} times'}, each time on "
        "every race day before its test month; the first months learn from little history."
    )
    caveats.append(
        "Baselines bet on the same races with their own in-memory accounts; only the Themis "
        "strategy runs the monitor (drawdown tiers) and the real ledger."
    )
    return caveats


def _run_id(clock: Clock, date_from: dt.date, date_to: dt.date) -> str:
    return f"{clock.now():%Y%m%dT%H%M%SZ}-{date_from}-{date_to}"


def run_backtest(
    config: KeibaConfig,
    clock: Clock,
    date_from: dt.date,
    date_to: dt.date,
    *,
    progress: Progress = _noop,
    run_dir: Path | None = None,
) -> BacktestResult:
    """Replay [date_from, date_to] from the warehouse under `config.home`; write a run dir."""
    from keiba.feature_engineering import build_features

    started = time.perf_counter()
    timings: dict[str, float] = {}
    bt = config.backtest
    directory = run_dir or config.home / "backtests" / _run_id(clock, date_from, date_to)
    if (directory / "result.json").exists() or (directory / "ledger.sqlite").exists():
        raise KeibaError(f"{directory} already holds a backtest run; choose another directory")
    warehouse = DuckDBWarehouse(config.duckdb_path)
    try:
        if not warehouse.has_table("races"):
            raise KeibaError(
                f"the warehouse {config.duckdb_path} holds no races: import data first "
                "(keiba import …) or run `keiba backtest --source sample`"
            )
        days = list(warehouse.query("SELECT DISTINCT race_date FROM races")["race_date"])
        windows = plan_windows(
            days,
            date_from,
            date_to,
            min_history_days=bt.min_history_days,
            combine_share=bt.combine_share,
        )
        progress("features", 0, 1)
        build_features(warehouse)
        progress("features", 1, 1)
        timings["features"] = time.perf_counter() - started
        frames: list[pl.DataFrame] = []
        exotic: dict[str, dict[str, dict[str, float]]] = {}
        schedule: list[dict[str, Any]] = []
        unpredicted = 0
        for i, window in enumerate(windows):
            progress("training", i, len(windows))
            wm: WindowModel = train_window(warehouse, window, config.model, bt)
            priced = priced_races(warehouse, window.test_from, window.test_to, bt)
            frame = predict(wm.model, warehouse, priced.frame)
            priced_count = frame["race_id"].n_unique()
            frame = frame.filter(~pl.col("p_model").is_null().any().over("race_id"))
            unpredicted += priced_count - frame["race_id"].n_unique()
            frame = frame.with_columns(
                wm.combination.apply(frame), pl.lit(wm.model.version).alias("model_version")
            )
            frames.append(frame)
            exotic.update(priced.exotic_odds)
            schedule.append(wm.to_dict(frame["race_id"].n_unique()))
            log.info(
                "backtest.window",
                month=f"{window.test_from:%Y-%m}",
                model_version=wm.model.version,
                races=schedule[-1]["races"],
            )
        progress("training", len(windows), len(windows))
        timings["training"] = time.perf_counter() - started - timings["features"]
        frame = pl.concat(frames, how="vertical_relaxed")
        if frame.is_empty():
            raise KeibaError(f"no complete, priced races between {date_from} and {date_to}")
        races = _races(frame)
        payouts = _payouts(warehouse, [r.race_id for r in races])
        # a race without its win payouts cannot be settled: left out and reported, never lost
        unsettleable = [
            r.race_id for r in races if ("win" not in {b for b, _ in payouts.get(r.race_id, {})})
        ]
        if unsettleable:
            races = [r for r in races if r.race_id not in set(unsettleable)]
            frame = frame.filter(~pl.col("race_id").is_in(unsettleable))
        if not races:
            raise KeibaError(f"no race between {date_from} and {date_to} has its payouts")
        race_ids = [r.race_id for r in races]
        statuses = _statuses(warehouse, race_ids)
        incomplete = incomplete_races(warehouse, windows[0].test_from, windows[-1].test_to)
    finally:
        warehouse.close()

    directory.mkdir(parents=True, exist_ok=True)
    ledger_path = directory / "ledger.sqlite"
    engine = create_ledger_engine(f"sqlite:///{ledger_path}")
    replay_clock = FixedClock(races[0].decision_at - dt.timedelta(hours=1))
    ledger = Ledger(engine, replay_clock, account=ACCOUNT)
    ledger.deposit(bt.bankroll_yen, cause="backtest starting bankroll")
    replay = _Replay(config, ledger, replay_clock, payouts, statuses, exotic)
    replay_started = time.perf_counter()
    for i, race in enumerate(races):
        replay.race(race)
        if i % 100 == 0:
            progress("replay", i, len(races))
    replay.finish()
    progress("replay", len(races), len(races))
    timings["replay"] = time.perf_counter() - replay_started

    themis = replay.accounts["themis"]
    balance = int(ledger.balance())
    if balance != themis.cash or themis.open_stakes:
        raise KeibaError(
            f"the backtest ledger holds {balance:,} yen but the replay counted {themis.cash:,}"
        )
    audit = verify(engine)
    engine.dispose()

    bets = (
        pl.DataFrame(replay.bets, schema=BETS_SCHEMA)
        if replay.bets
        else pl.DataFrame(schema=BETS_SCHEMA)
    )
    bets = bets.sort("race_seq", "strategy", "bet_type", "combination")
    daily = pl.DataFrame(replay.daily, schema=DAILY_SCHEMA)
    predictions = frame.select(
        "race_id",
        "race_date",
        "horse_no",
        "model_version",
        "p_model",
        "p_combined",
        "p_market",
        "p_market_final",
        "decision_odds",
        "final_odds",
        "won",
    ).cast(PREDICTIONS_SCHEMA)  # type: ignore[arg-type]
    metrics = all_metrics(bets, daily, bt.bankroll_yen)
    timings["total"] = time.perf_counter() - started
    result = {
        "run_id": directory.name,
        "created_at": clock.now().isoformat(),
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "data_source": f"warehouse {config.duckdb_path}",
        "odds_source": "snapshots"
        if set(frame["odds_source"].unique()) == {"snapshot"}
        else "final",
        "odds_drift": bt.odds_drift.model_dump(mode="json"),
        "pools": [b.value for b in bt.pools],
        "start_yen": bt.bankroll_yen,
        "policy": replay.policy.model_dump(mode="json"),
        "schedule": schedule,
        "races": len(races),
        "races_incomplete": incomplete,
        "races_unpredicted": unpredicted,
        "races_without_payouts": unsettleable,
        "decisions_recorded": replay.decisions,
        "monitor": {
            "enabled": bt.monitor,
            "events": [
                {"kind": a.kind, "message": a.message, "at": a.at.isoformat()}
                for a in replay.alerts.alerts
            ],
            "stopped": replay.monitor.stopped if replay.monitor is not None else False,
            "races_skipped": replay.skipped_by_monitor,
        },
        "ledger": {
            "path": str(ledger_path),
            "audit_ok": audit.ok,
            "final_balance_yen": balance,
        },
        "caveats": _caveats(frame, config, incomplete, len(windows))
        + (
            [
                f"{unpredicted:,} priced races had a starter without features (no winner "
                "recorded, or a feature row missing); they were not replayed."
            ]
            if unpredicted
            else []
        )
        + (
            [
                f"{len(unsettleable):,} races have no win payouts in the data and could not be "
                f"settled; they were not replayed: {', '.join(unsettleable[:5])}"
                + (" …" if len(unsettleable) > 5 else "")
            ]
            if unsettleable
            else []
        ),
        "metrics": metrics,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    bets.write_parquet(directory / "bets.parquet")
    daily.write_parquet(directory / "daily.parquet")
    predictions.write_parquet(directory / "predictions.parquet")
    tmp = directory / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(directory / "result.json")
    log.info("backtest.done", run=str(directory), races=len(races), seconds=timings["total"])
    return BacktestResult(directory, result)

"""The main job (`keiba demo`): data → features → model → probabilities → bets → ledger → report.

1. Data: the demo keeps datasets of its own, never the user's selected one: the shipped 2018
   season goes into `demo-jra2018`, a simulated world into `demo-simulated` (emptied first when
   it holds another world); `source: warehouse` runs on the selected dataset as it is.
2. Point-in-time features for every runner (feature_engineering).
3. Split race days by date: the last `test_fraction` are the test period; the model trains on
   the days before it, stopping early on the latest 15% of those.
4. Win probabilities for the test races; the market's de-vigged probabilities beside them.
5. Score model and market (and, for a simulated world, the true probabilities) on exactly the
   same races.
6. Replay the test races in post-time order through Themis with the bankroll read from a
   dedicated demo ledger (never the user's own): each decision recorded with its inputs, its
   win tickets bought at the final odds through the paper broker, and each race settled against
   the official payouts before the next.
7. Write the HTML report and return a summary.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from keiba.bankroll import Ledger, Ticket
from keiba.common.bet_types import BetType
from keiba.common.clock import JST, Clock, FixedClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.logging import get_logger
from keiba.common.storage import (
    DuckDBWarehouse,
    FsspecObjectStore,
    Warehouse,
    create_ledger_engine,
)
from keiba.common.storage.datasets import drop_dataset, open_dataset
from keiba.evaluator import report
from keiba.evaluator.answer import demo_answer
from keiba.evaluator.backtest_frames import BETS_SCHEMA
from keiba.evaluator.backtest_metrics import interval_text, rates
from keiba.evaluator.bet_list import label_bets, warehouse_names
from keiba.evaluator.evaluation import NAMES as PROBABILITY_NAMES
from keiba.evaluator.metrics import (
    calibration_table,
    common_races,
    delta_r2_interval,
    score,
)
from keiba.execution import PaperBroker, execute_decision
from keiba.market.fields import COMPLETE_FIELDS_SQL, incomplete_races
from keiba.market.probabilities import market_probabilities
from keiba.market.settlement import settle_ticket
from keiba.themis import Bankroll, decide

__all__ = [
    "DEMO_DATASETS",
    "SAMPLE_DATASET",
    "MainJobSummary",
    "load_sample",
    "load_sample_dataset",
    "run_main_job",
]

log = get_logger(__name__)

Progress = Callable[[str, int, int], None]
ODDS_BANDS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, math.inf)
COMBINE_FRACTION = 0.2
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data" / "jra2018"
VALID_FRACTION = 0.15
DEMO_DATASETS = {"sample": "demo-jra2018", "simulated": "demo-simulated"}
"""The demo's own datasets, by `demo.source`."""
SAMPLE_DATASET = "jra2018-sample"
"""Where `keiba backtest run --source sample` loads the shipped 2018 season and runs."""


@dataclass
class MainJobSummary:
    data_source: str
    dataset: str
    dataset_kind: str | None
    races: int
    train_period: tuple[str, str]
    combination_period: tuple[str, str]
    combination: dict[str, float]
    test_period: tuple[str, str]
    test_races: int
    model_version: str
    scores: dict[str, dict[str, float]]
    delta_r2_vs_market: dict[str, dict[str, float]]
    bets: int
    races_bet: int
    hits: int
    staked_yen: int
    returned_yen: int
    profit_yen: int
    return_rate: float | None
    hit_rate: float | None
    starting_bankroll_yen: int
    final_bankroll_yen: int
    max_drawdown: float
    report_path: str
    caveats: list[str] = field(default_factory=list)
    answer: str = ""
    """One sentence first: did Themis make money, and do the probabilities beat the market's."""
    return_rate_interval: dict[str, Any] | None = None
    """The return rate with its 95% race-bootstrap interval (`value`, `low`, `high`)."""
    hit_rate_interval: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class _Replay:
    """What replaying the test races through Themis and the demo ledger produced."""

    bets: int = 0
    races_bet: int = 0
    hits: int = 0
    staked: int = 0
    returned: int = 0
    start: int = 0
    final: int = 0
    balances: list[int] = field(default_factory=list)
    band_stake: dict[str, int] = field(default_factory=dict)
    band_return: dict[str, int] = field(default_factory=dict)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    """Every settled ticket as a bets row (`backtest_frames.BETS_SCHEMA`), for the report."""

    def summary_fields(self) -> dict[str, Any]:
        return {
            "bets": self.bets,
            "races_bet": self.races_bet,
            "hits": self.hits,
            "staked_yen": self.staked,
            "returned_yen": self.returned,
            "profit_yen": self.returned - self.staked,
            "return_rate": self.returned / self.staked if self.staked else None,
            "hit_rate": self.hits / self.bets if self.bets else None,
            "starting_bankroll_yen": self.start,
            "final_bankroll_yen": self.final,
            "max_drawdown": _max_drawdown([self.start, *self.balances]),
        }


def _simulated_world(config: KeibaConfig) -> tuple[Path, str]:
    """The demo's world directory (generated if missing) and its description."""
    from keiba.data_collector.canonical import write_canonical
    from keiba.simulator import WorldConfig, generate_world

    demo = config.demo
    world_dir = config.home / "worlds" / f"sim-{demo.start_year}-{demo.years}y-seed{demo.seed}"
    if not (world_dir / "races.parquet").exists():
        world = generate_world(
            WorldConfig(years=demo.years, seed=demo.seed, start_year=demo.start_year)
        )
        write_canonical(
            {
                "races": world.races,
                "runners": world.runners,
                "payouts": world.payouts,
                "odds": world.odds,
                "true_probabilities": world.true_probabilities,
            },
            world_dir,
        )
    return world_dir, f"simulated world ({demo.years} years, seed {demo.seed}) in {world_dir}"


def _holds_only(config: KeibaConfig, source: str) -> bool:
    """Whether the selected dataset is missing, empty, or holds nothing but loads of `source`."""
    if not config.duckdb_path.exists():
        return True
    with open_dataset(config) as warehouse:
        warehouse.ensure_schema()
        loaded = set(warehouse.query("SELECT DISTINCT source FROM dataset_loads")["source"])
        races = int(warehouse.query("SELECT count(*) AS n FROM races")["n"][0])
    return races == 0 or loaded == {source}


def _load_simulated_world(config: KeibaConfig, clock: Clock) -> str:
    """Import the demo's world into the selected dataset, emptied first if it holds another."""
    from keiba.data_collector.canonical import import_canonical

    world_dir, description = _simulated_world(config)
    source = f"simulated world {world_dir.name}"
    if not _holds_only(config, source):
        drop_dataset(config, config.storage.dataset)
    with open_dataset(config) as warehouse:
        import_canonical(warehouse, world_dir, kind="simulated", clock=clock, source=source)
    return description


def load_sample(warehouse: Warehouse, clock: Clock | None = None) -> str:
    """Import the shipped 2018 season (real races) into `warehouse`; idempotent."""
    from keiba.data_collector.canonical import import_canonical

    import_canonical(warehouse, SAMPLE_DIR, kind="real", clock=clock, source="jra2018 sample")
    return "every JRA race of 2018 (the shipped sample; see its README for the sources)"


def load_sample_dataset(
    config: KeibaConfig, clock: Clock, name: str = SAMPLE_DATASET
) -> KeibaConfig:
    """Load the shipped 2018 season into dataset `name` (idempotent); the config selecting it."""
    selected = config.with_dataset(name)
    with open_dataset(selected) as warehouse:
        load_sample(warehouse, clock)
    return selected


def _demo_data(config: KeibaConfig, clock: Clock) -> tuple[KeibaConfig, str]:
    """Load the demo's data; the config selecting the dataset it runs on, and what it is."""
    source = config.demo.source
    if source == "warehouse":
        return config, f"dataset {config.storage.dataset} ({config.duckdb_path})"
    selected = config.with_dataset(DEMO_DATASETS[source])
    if source == "simulated":
        return selected, _load_simulated_world(selected, clock)
    with open_dataset(selected) as warehouse:
        return selected, load_sample(warehouse, clock)


@dataclass(frozen=True)
class _Periods:
    """Race days split by date: train (its tail for early stopping), combine, test."""

    first_day: dt.date
    first_valid: dt.date
    first_combine: dt.date
    first_test: dt.date
    last_day: dt.date


def _split_dates(warehouse: DuckDBWarehouse, test_fraction: float) -> _Periods:
    days = warehouse.query("SELECT DISTINCT race_date FROM races ORDER BY race_date")["race_date"]
    if days.len() < 20:
        raise KeibaError(f"the warehouse holds {days.len()} race days; the demo needs at least 20")
    n_test = max(1, round(days.len() * test_fraction))
    n_combine = max(1, round(days.len() * COMBINE_FRACTION))
    first_test = days[days.len() - n_test]
    first_combine = days[days.len() - n_test - n_combine]
    train_days = days.filter(days < first_combine)
    n_valid = max(1, round(train_days.len() * VALID_FRACTION))
    first_valid = train_days[train_days.len() - n_valid]
    return _Periods(days[0], first_valid, first_combine, first_test, days[-1])


def _period_frame(warehouse: DuckDBWarehouse, date_from: dt.date, date_to: dt.date) -> pl.DataFrame:
    """Starters of the period with odds, status, truth (if simulated) and the winner label.

    Only races with a row for every declared runner: where runners that did not finish are
    missing (as in the 2018 CSVs), the market's probabilities would be normalised over the
    runners known to have finished — knowledge of the outcome that no bettor had.
    """
    return warehouse.query(
        f"""
        SELECT r.race_id, r.horse_no, r.frame_no, r.status, r.win_odds_final, t.p_true,
               ra.race_date, ra.post_time,
               CAST(coalesce(r.finish_pos = 1, FALSE) AS DOUBLE) AS first
        FROM runners r JOIN races ra USING (race_id)
        LEFT JOIN true_probabilities t USING (race_id, horse_no)
        WHERE ra.race_date BETWEEN ? AND ? AND r.status NOT IN ('scratched', 'excluded')
          AND r.race_id IN ({COMPLETE_FIELDS_SQL})
        ORDER BY ra.race_date, ra.post_time NULLS LAST, r.race_id, r.horse_no
        """,
        [date_from, date_to],
    ).with_columns(
        (pl.col("first") / pl.col("first").sum().over("race_id")).fill_nan(0.0).alias("won")
    )


def _odds_band(odds: float) -> str:
    for low, high in itertools.pairwise(ODDS_BANDS):
        if low <= odds < high:
            return f"{low:g}–{high:g}" if math.isfinite(high) else f"{low:g}+"
    return "?"


def _max_drawdown(balances: list[int]) -> float:
    peak, worst = 0, 0.0
    for b in balances:
        peak = max(peak, b)
        if peak > 0:
            worst = max(worst, (peak - b) / peak)
    return worst


def run_main_job(config: KeibaConfig, clock: Clock, progress: Progress = _noop) -> MainJobSummary:
    """Run the whole pipeline on the embedded storage under `config.home`."""
    from keiba.feature_engineering import build_features
    from keiba.model_training import predict_proba, save_model, train_model, training_frame
    from keiba.model_training.combination import fit_combination

    caveats = [
        "Bets are priced at the final win odds, which nobody could bet at: the backtest "
        "flatters anything that trades on late information.",
    ]
    progress("data", 0, 1)
    data_config, source = _demo_data(config, clock)
    warehouse = open_dataset(data_config, must_exist=True)
    try:
        kind = warehouse.kind()
        if kind == "simulated":
            caveats.append("The data are a simulated world, not real JRA races.")
        dataset = {"name": warehouse.dataset, "kind": kind}
        progress("data", 1, 1)
        log.info("main_job.data", source=source, dataset=warehouse.dataset, kind=kind)
        progress("features", 0, 1)
        rows = build_features(warehouse)
        progress("features", 1, 1)
        log.info("main_job.features", rows=rows)
        periods = _split_dates(warehouse, config.demo.test_fraction)
        day = dt.timedelta(days=1)
        progress("training", 0, 1)
        train = training_frame(warehouse, periods.first_day, periods.first_valid - day)
        valid = training_frame(warehouse, periods.first_valid, periods.first_combine - day)
        model = train_model(train, valid, config.model)
        model_key = save_model(model, FsspecObjectStore(config.object_store_url), dataset=dataset)
        progress("training", 1, 1)
        log.info(
            "main_job.trained",
            model_version=model.version,
            train_rows=train.height,
            best_iteration=model.best_iteration,
            stored_at=model_key,
        )

        def predicted(date_from: dt.date, date_to: dt.date) -> pl.DataFrame:
            features = training_frame(warehouse, date_from, date_to)
            p_model = features.select("race_id", "horse_no").with_columns(
                pl.Series("p_model", predict_proba(model, features))
            )
            frame = _period_frame(warehouse, date_from, date_to).join(
                p_model, on=["race_id", "horse_no"], how="left", maintain_order="left"
            )
            return frame.with_columns(market_probabilities(frame))

        combination = fit_combination(predicted(periods.first_combine, periods.first_test - day))
        log.info("main_job.combination", alpha=combination.alpha, beta=combination.beta)
        frame = predicted(periods.first_test, periods.last_day)
        frame = frame.with_columns(combination.apply(frame))
        compared = ["p_market", "p_model", "p_combined"] + (
            ["p_true"] if frame["p_true"].is_not_null().any() else []
        )
        same = common_races(frame, compared)
        scores = {name: score(same, name) for name in compared}
        deltas = {
            name: dict(
                zip(
                    ("delta", "low", "high"), delta_r2_interval(same, name, "p_market"), strict=True
                )
            )
            for name in ("p_model", "p_combined")
        }

        incomplete = incomplete_races(warehouse, periods.first_test, periods.last_day)
        if incomplete:
            caveats.append(
                f"{incomplete} test races lack rows for some declared runners (runners that did "
                "not finish are missing from the source); they are neither scored nor bet, "
                "because the market over the known finishers would use the result."
            )
        replay = _replay_bets(config, clock, same, warehouse, progress)
        bets = pl.DataFrame(replay.tickets, schema=BETS_SCHEMA)
        bets = label_bets(bets, *warehouse_names(warehouse, bets["race_id"].unique().to_list()))
        total_races = warehouse.query("SELECT count(*) AS n FROM races")["n"][0]
        summary = MainJobSummary(
            data_source=source,
            dataset=warehouse.dataset,
            dataset_kind=kind,
            races=int(total_races),
            train_period=(periods.first_day.isoformat(), (periods.first_combine - day).isoformat()),
            combination_period=(
                periods.first_combine.isoformat(),
                (periods.first_test - day).isoformat(),
            ),
            combination={
                "alpha": combination.alpha,
                "beta": combination.beta,
                "races": combination.races,
            },
            test_period=(periods.first_test.isoformat(), periods.last_day.isoformat()),
            test_races=scores["p_market"].races,
            model_version=model.version,
            scores={
                name: {
                    "races": s.races,
                    "log_loss": s.log_loss,
                    "pseudo_r2": s.pseudo_r2,
                    "brier": s.brier,
                    "uniform_log_loss": s.uniform_log_loss,
                }
                for name, s in scores.items()
            },
            delta_r2_vs_market=deltas,
            report_path="",
            caveats=caveats,
            **replay.summary_fields(),
        )
        calibration = {
            "model": calibration_table(same, "p_model"),
            "market": calibration_table(same, "p_market"),
            "combined": calibration_table(same, "p_combined"),
        }
        _answer(summary, bets)
        path = _write_report(config, summary, scores, calibration, replay, bets, clock)
        summary.report_path = str(path)
        log.info(
            "main_job.done", bets=summary.bets, profit_yen=summary.profit_yen, report=str(path)
        )
        return summary
    finally:
        warehouse.close()


def _race_time(day: dt.date, post_time: dt.datetime | None) -> dt.datetime:
    """When a race's bets are placed: its post time, or noon JST on its day when unknown."""
    if post_time is not None:
        return post_time if post_time.tzinfo else post_time.replace(tzinfo=dt.UTC)
    return dt.datetime.combine(day, dt.time(12), tzinfo=JST)


def _replay_bets(
    config: KeibaConfig,
    clock: Clock,
    frame: pl.DataFrame,
    warehouse: DuckDBWarehouse,
    progress: Progress,
) -> _Replay:
    demo_dir = config.home / "demo"
    if demo_dir.exists():
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True)
    engine = create_ledger_engine(f"sqlite:///{demo_dir / 'ledger.sqlite'}")
    # the demo's ledger lives in the replayed time: each purchase is dated on its race's day
    first_day = frame["race_date"].min() if frame.height else clock.now().date()
    replay_clock = FixedClock(_race_time(first_day, None) - dt.timedelta(days=1))  # type: ignore[arg-type]
    ledger = Ledger(engine, replay_clock, account="demo")
    start = config.demo.bankroll_yen
    if start > 0:
        ledger.deposit(start, cause="demo starting bankroll")
    race_ids = frame["race_id"].unique(maintain_order=True).to_list()
    payouts = warehouse.query(
        "SELECT race_id, bet_type, combination, payout_yen FROM payouts "
        "WHERE bet_type = 'win' AND race_id IN (SELECT unnest(?))",
        [race_ids],
    )
    payout_map: dict[str, dict[tuple[str, str], int]] = {}
    for race_id, bet, combination, paid in payouts.iter_rows():
        payout_map.setdefault(race_id, {})[(bet, combination)] = paid
    replay = _Replay(start=start)
    broker = PaperBroker(prefix="demo")
    day: object = None
    day_start = staked_today = tickets_today = 0
    for i, (race_id, rows) in enumerate(frame.group_by("race_id", maintain_order=True)):
        race = str(race_id[0])
        at = _race_time(rows["race_date"][0], rows["post_time"][0])
        if at > replay_clock.now():
            replay_clock.advance(at - replay_clock.now())
        if rows["race_date"][0] != day:
            day, day_start, staked_today, tickets_today = (
                rows["race_date"][0],
                ledger.balance(),
                0,
                0,
            )
        probabilities = dict(zip(rows["horse_no"], rows["p_combined"], strict=True))
        odds = {h: o for h, o in zip(rows["horse_no"], rows["win_odds_final"], strict=True) if o}
        statuses = dict(zip(rows["horse_no"], rows["status"], strict=True))
        bankroll = Bankroll(ledger.balance(), staked_today, tickets_today, day_start)
        decision = decide(probabilities, odds, bankroll, config.themis)
        staked_today += decision.total_stake
        tickets_today += len(decision.bets)
        tickets = [
            Ticket(
                f"{race}-{bet.bet_type.value}-{bet.combination}-{n}",
                race,
                bet.bet_type.value,
                bet.combination,
                bet.stake,
                bet.rule,
            )
            for n, bet in enumerate(decision.bets)
        ]
        if tickets:
            execute_decision(
                ledger,
                broker,
                decision_id=f"{race}-demo",
                race_id=race,
                rule="themis",
                inputs={
                    "probabilities": probabilities,
                    "odds": odds,
                    "bankroll": asdict(bankroll),
                    "policy": config.themis.model_dump(mode="json"),
                },
                output=decision.to_dict(),
                tickets=tickets,
            )
        for bet, ticket in zip(decision.bets, tickets, strict=True):
            ticket_id = ticket.ticket_id
            outcome = settle_ticket(
                BetType.WIN, bet.combination, bet.stake, payout_map.get(race, {}), statuses
            )
            ledger.settle(ticket_id, outcome.paid, refund=outcome.refund)
            replay.bets += 1
            replay.staked += bet.stake
            replay.returned += outcome.paid
            replay.hits += outcome.label == "won"
            replay.tickets.append(
                {
                    "strategy": "themis",
                    "race_id": race,
                    "race_date": rows["race_date"][0],
                    "race_seq": i,
                    "bet_type": BetType.WIN.value,
                    "combination": bet.combination,
                    "stake_yen": bet.stake,
                    "probability": bet.probability,
                    "decision_odds": bet.odds,
                    "final_odds": bet.odds,
                    "paid_yen": outcome.paid,
                    "refund": outcome.refund,
                    "hit": outcome.label == "won",
                    "bankroll_yen": bankroll.balance_yen,
                }
            )
            band = _odds_band(bet.odds)
            replay.band_stake[band] = replay.band_stake.get(band, 0) + bet.stake
            replay.band_return[band] = replay.band_return.get(band, 0) + outcome.paid
        if decision.bets:
            replay.races_bet += 1
            replay.balances.append(ledger.balance())
        if i % 200 == 0:
            progress("betting", i, len(race_ids))
    progress("betting", len(race_ids), len(race_ids))
    replay.final = ledger.balance()
    return replay


def _answer(summary: MainJobSummary, bets: pl.DataFrame) -> None:
    """Fill the summary's answer and its rates with their race-bootstrap intervals."""
    return_rate, hit_rate = rates(bets)
    summary.return_rate_interval, summary.hit_rate_interval = return_rate, hit_rate
    summary.answer = demo_answer(
        {
            "bets": summary.bets,
            "races_bet": summary.races_bet,
            "profit_yen": summary.profit_yen,
            "return_rate": return_rate,
            "hit_rate": hit_rate,
        },
        summary.delta_r2_vs_market.get("p_combined"),
    )


def _write_report(
    config: KeibaConfig,
    summary: MainJobSummary,
    scores: dict[str, Any],
    calibration: dict[str, pl.DataFrame],
    replay: _Replay,
    bets: pl.DataFrame,
    clock: Clock,
) -> Path:
    names = PROBABILITY_NAMES
    score_rows = [
        [names[k], s.races, f"{s.log_loss:.4f}", f"{s.pseudo_r2:.4f}", f"{s.brier:.4f}"]
        for k, s in scores.items()
    ]
    delta_rows = [
        [names[k], f"{d['delta']:+.4f}", f"[{d['low']:+.4f}, {d['high']:+.4f}]"]
        for k, d in summary.delta_r2_vs_market.items()
    ]
    return_rate, hit_rate = summary.return_rate_interval, summary.hit_rate_interval
    answer = summary.answer
    betting_rows = [
        ["bets", f"{summary.bets:,}"],
        ["races bet", f"{summary.races_bet:,} of {summary.test_races:,}"],
        ["staked", f"{summary.staked_yen:,} yen"],
        ["returned", f"{summary.returned_yen:,} yen"],
        ["profit", f"{summary.profit_yen:,} yen"],
        ["return rate (回収率) [95% race bootstrap]", interval_text(return_rate)],
        ["hit rate (的中率) [95% race bootstrap]", interval_text(hit_rate)],
        ["bankroll", f"{summary.starting_bankroll_yen:,} → {summary.final_bankroll_yen:,} yen"],
        ["max drawdown", f"{summary.max_drawdown:.1%}"],
    ]
    bands = pl.DataFrame(
        {
            "band": list(replay.band_stake),
            "return_rate": [replay.band_return[b] / s for b, s in replay.band_stake.items()],
        },
        schema={"band": pl.String, "return_rate": pl.Float64},
    )
    charts = [
        report.log_loss_chart(
            {names[k]: s.log_loss for k, s in scores.items()},
            scores["p_model"].uniform_log_loss,
        ),
        report.calibration_chart(calibration),
    ]
    if replay.balances:
        charts.insert(0, report.bankroll_chart(replay.balances, replay.start))
    if bands.height:
        charts.append(report.odds_band_chart(bands))
    data_rows = [
        ["source", summary.data_source],
        ["dataset", f"{summary.dataset} ({summary.dataset_kind})"],
        ["races in the dataset", f"{summary.races:,}"],
        ["training period", " to ".join(summary.train_period)],
        ["market-combination period", " to ".join(summary.combination_period)],
        [
            "combination c ∝ f^α q^β",
            f"α = {summary.combination['alpha']:.3f}, β = {summary.combination['beta']:.3f}",
        ],
        ["test period", " to ".join(summary.test_period)],
        ["model version", summary.model_version],
    ]
    page = report.render_report(
        "keiba — model against the market",
        [
            ("Betting (win tickets, Themis, demo ledger)", betting_rows, ["", ""]),
            (
                "Probabilities on the same test races",
                score_rows,
                ["", "races", "winner log-loss", "pseudo-R²", "Brier"],
            ),
            (
                "ΔR² against the market (the gain that makes money)",
                delta_rows,
                ["", "ΔR²", "95% race bootstrap"],
            ),
        ],
        charts,
        summary.caveats,
        answer=answer,
        bets=bets,
        appendix=[("Data", data_rows, ["", ""])],
    )
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    return report.write_report(config.reports_dir / f"demo-{stamp}.html", page)

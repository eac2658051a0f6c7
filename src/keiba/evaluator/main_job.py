"""The main job (`keiba demo`): data → features → model → probabilities → bets → ledger → report.

1. Data: the demo keeps datasets of its own, never the user's selected one: the shipped 2018
   season goes into `demo-jra2018`, a simulated world into `demo-simulated` (emptied first when
   it holds another world); `source: warehouse` runs on the selected dataset as it is.
2. Point-in-time features for every runner (feature_engineering).
3. Split race days by date: the last `test_fraction` are the test period; the model trains on
   the days before it, stopping early on the latest 15% of those.
4. Win probabilities for the test races from the one source (`keiba.predictor`), priced as the
   engine sees a race at decision time (`keiba.engine.recorded`, at the final win odds); the
   market's de-vigged probabilities beside them.
5. Score model and market (and, for a simulated world, the true probabilities) on exactly the
   same races.
6. Replay the test races through the engine (`keiba.engine.Replay`, the code a race day runs)
   with a dedicated demo ledger (never the user's own) and the paper broker, as the caller
   builds them (`keiba.app.replay`): at each race's decision time the monitor, Themis and
   execution; at its settlement time the official payouts.
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

from keiba.common.bet_types import BetType
from keiba.common.clock import Clock
from keiba.common.config import BacktestConfig, KeibaConfig, OddsDriftConfig
from keiba.common.errors import KeibaError
from keiba.common.logging import get_logger
from keiba.common.storage import (
    FsspecObjectStore,
    Warehouse,
)
from keiba.common.storage.datasets import drop_dataset, open_dataset, warehouse_location
from keiba.data_collector.canonical import import_canonical, write_canonical
from keiba.engine import ENGINE
from keiba.engine.recorded import priced_races, race_results, replay_races
from keiba.evaluator import report
from keiba.evaluator.answer import demo_answer
from keiba.evaluator.backtest_frames import BETS_SCHEMA
from keiba.evaluator.backtest_metrics import interval_text, rates
from keiba.evaluator.bet_list import label_bets, warehouse_names
from keiba.evaluator.evaluation import NAMES as PROBABILITY_NAMES
from keiba.evaluator.metrics import calibration_table, common_races, delta_r2_interval, score
from keiba.evaluator.replay_setup import ReplayFactory
from keiba.feature_engineering import build_features
from keiba.market.fields import incomplete_races
from keiba.model_training import save_model, train_model, training_frame
from keiba.model_training.combination import fit_combination
from keiba.model_training.starters import model_probabilities
from keiba.predictor.probabilities import race_probabilities
from keiba.simulator import WorldConfig, generate_world

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
    if config.storage.warehouse == "duckdb" and not config.duckdb_path.exists():
        return True
    with open_dataset(config) as warehouse:
        warehouse.ensure_schema()
        loaded = set(warehouse.query("SELECT DISTINCT source FROM dataset_loads")["source"])
        races = int(warehouse.query("SELECT count(*) AS n FROM races")["n"][0])
    return races == 0 or loaded == {source}


def _load_simulated_world(config: KeibaConfig, clock: Clock) -> str:
    """Import the demo's world into the selected dataset, emptied first if it holds another."""
    world_dir, description = _simulated_world(config)
    source = f"simulated world {world_dir.name}"
    if not _holds_only(config, source):
        drop_dataset(config, config.storage.dataset)
    with open_dataset(config) as warehouse:
        import_canonical(warehouse, world_dir, kind="simulated", clock=clock, source=source)
    return description


def load_sample(warehouse: Warehouse, clock: Clock | None = None) -> str:
    """Import the shipped 2018 season (real races) into `warehouse`; idempotent."""
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
        where = warehouse_location(config, config.storage.dataset)
        return config, f"dataset {config.storage.dataset} ({where})"
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


def _split_dates(warehouse: Warehouse, test_fraction: float) -> _Periods:
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


def run_main_job(
    config: KeibaConfig, clock: Clock, progress: Progress = _noop, *, setup: ReplayFactory
) -> MainJobSummary:
    """Run the whole pipeline on the embedded storage under `config.home`; `setup` builds the
    engine the test races are replayed through (`keiba.app.replay`)."""
    caveats = [
        "Bets are priced at the final win odds, which nobody could bet at: the backtest "
        "flatters anything that trades on late information.",
    ]
    timing = _demo_timing(config)
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

        combine = priced_races(
            warehouse, periods.first_combine, periods.first_test - day, timing
        ).frame
        combination = fit_combination(model_probabilities(model, warehouse, combine).frame)
        log.info("main_job.combination", alpha=combination.alpha, beta=combination.beta)
        frame = race_probabilities(
            model,
            combination,
            warehouse,
            priced_races(warehouse, periods.first_test, periods.last_day, timing).frame,
        ).frame
        frame = _with_truth(warehouse, frame).with_columns(
            pl.lit(model.version).alias("model_version")
        )
        compared = ["p_market", "p_model", "p_combined"] + [
            c for c in ("p_true", "p_knowable") if frame[c].is_not_null().any()
        ]
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
        replay = _replay(config, same, warehouse, progress, setup)
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


def _demo_timing(config: KeibaConfig) -> BacktestConfig:
    """The backtest's timing with the demo's bankroll, win tickets only, at the final odds."""
    return config.backtest.model_copy(
        update={
            "bankroll_yen": max(config.demo.bankroll_yen, 100),
            "pools": (BetType.WIN,),
            "odds_drift": OddsDriftConfig(model="none"),
        }
    )


def _with_truth(warehouse: Warehouse, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the simulated world's true probabilities (`p_true`, `p_knowable`: null for
    real races)."""
    truth = warehouse.query(
        "SELECT race_id, CAST(horse_no AS BIGINT) AS horse_no, p_true, p_knowable "
        "FROM true_probabilities "
        "WHERE race_id IN (SELECT unnest(?))",
        [frame["race_id"].unique().to_list()],
    )
    return frame.join(truth, on=["race_id", "horse_no"], how="left", maintain_order="left")


def _replay(
    config: KeibaConfig,
    frame: pl.DataFrame,
    warehouse: Warehouse,
    progress: Progress,
    setup: ReplayFactory,
) -> _Replay:
    """The test races through the engine `setup` builds, its ledger in the demo directory."""
    demo_dir = config.home / "demo"
    if demo_dir.exists():
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True)
    start = config.demo.bankroll_yen
    summary = _Replay(start=start, final=start)
    if frame.is_empty():
        return summary
    results = race_results(warehouse, frame["race_id"].unique(maintain_order=True).to_list())
    races = replay_races(frame, {}, results, (BetType.WIN,))
    rig = setup(demo_dir / "ledger.sqlite", races[0].inputs.decision_at - dt.timedelta(hours=1))
    replay = rig.replay(results)
    for i, race in enumerate(races):
        replay.race(race)
        if i % 200 == 0:
            progress("betting", i, len(races))
    replay.finish()
    progress("betting", len(races), len(races))
    summary.final = int(rig.ledger.balance())
    rig.database.dispose()
    _summarise(summary, [t for t in replay.tickets if t["strategy"] == ENGINE])
    return summary


def _summarise(summary: _Replay, tickets: list[dict[str, Any]]) -> None:
    """Fill the replay summary from the engine's settled tickets, in race order."""
    by_race: dict[int, int] = {}
    for t in sorted(tickets, key=lambda t: (t["race_seq"], t["ticket_id"])):
        summary.bets += 1
        summary.staked += t["stake_yen"]
        summary.returned += t["paid_yen"]
        summary.hits += t["hit"]
        by_race[t["race_seq"]] = by_race.get(t["race_seq"], 0) + t["paid_yen"] - t["stake_yen"]
        band = _odds_band(t["decision_odds"])
        summary.band_stake[band] = summary.band_stake.get(band, 0) + t["stake_yen"]
        summary.band_return[band] = summary.band_return.get(band, 0) + t["paid_yen"]
        summary.tickets.append(
            {**t, "bet_type": BetType.WIN.value, "final_odds": t["decision_odds"]}
        )
    balance = summary.start
    for seq in sorted(by_race):
        balance += by_race[seq]
        summary.balances.append(balance)
    summary.races_bet = len(by_race)


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

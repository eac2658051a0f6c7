"""A keiba home on a simulated race day: the world's history, the twin's day partly collected,
a model stored, and a ledger account with money in it (for `keiba bet today`'s tests).

The twin serves the world's last day on a simulated clock; the collector loads it once in the
morning (cards and forecast odds: nothing can be decided yet) and once in the afternoon
(interim odds for the races still to run). A small model is trained and stored on the
history, and the account `main` holds a deposit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from keiba.bankroll import Ledger
from keiba.common.clock import JST, FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore, create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.data_collector.collector import collect
from keiba.data_collector.http_client import HttpClient
from keiba.evaluator.evaluation import evaluate_frame
from keiba.model_training.pipeline import plan_periods, train_and_store
from keiba.simulator import WorldConfig, generate_world
from keiba.simulator.netkeiba_twin import serve_twin
from keiba.simulator.netkeiba_twin_day import TwinDay
from keiba.simulator.netkeiba_twin_world import twin_day_with_history

WORLD = WorldConfig(seed=3, max_race_days=12)
MODEL = {"num_boost_round": 30, "learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20}
DATASET = "sim"
ACCOUNT = "main"
DEPOSIT = 1_000_000


@dataclass(frozen=True)
class Morning:
    home: Path
    config: KeibaConfig
    day: TwinDay
    early: dt.datetime
    """Just after the morning's collect: cards and forecast odds only."""
    at: dt.datetime
    """Just after the afternoon's collect."""


def settings(home: Path) -> KeibaConfig:
    return load_config(None, home, {"model": MODEL, "storage": {"dataset": DATASET}})


def _collect(base: str, clock: FixedClock, warehouse: DuckDBWarehouse, config: KeibaConfig) -> None:
    collector = config.collector.model_copy(update={"race_base_url": base, "db_base_url": base})
    store = FsspecObjectStore(config.object_store_url)
    sleep = lambda s: clock.advance(dt.timedelta(seconds=s))  # noqa: E731
    with HttpClient(collector, clock, sleep) as client:
        report = collect(warehouse, store, client, clock, clock.now().date(), kind="simulated")
    assert report.stopped is None and not report.failed and not report.ingest.quarantined


def _deposit(config: KeibaConfig, at: dt.datetime) -> None:
    engine = create_ledger_engine(config.ledger_url)
    try:
        Ledger(engine, FixedClock(at), ACCOUNT).deposit(DEPOSIT)
    finally:
        engine.dispose()


def race_morning(home: Path) -> Morning:
    """Build the home (about 20 s)."""
    home.mkdir(parents=True, exist_ok=True)
    # the home's policy, for the commands run in it too: one that buys on this small world's
    # day, whose model adds little to the market
    (home / "keiba.yaml").write_text("themis:\n  ev_threshold: 1.0\n", encoding="utf-8")
    config = settings(home)
    last_day = generate_world(WORLD).races["race_date"].max()
    assert isinstance(last_day, dt.date)
    clock = FixedClock(dt.datetime.combine(last_day, dt.time(8, 30), JST))
    with open_dataset(config) as warehouse:
        day = twin_day_with_history(warehouse, WORLD, clock, last_day)
        with serve_twin(day, clock) as base:
            _collect(base, clock, warehouse, config)
            early = clock.now()
            clock.advance(day.races[6].post_time - dt.timedelta(minutes=15) - clock.now())
            _collect(base, clock, warehouse, config)
        train_and_store(
            config,
            warehouse,
            FsspecObjectStore(config.object_store_url),
            plan_periods(warehouse),
            evaluate=evaluate_frame,
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        )
    _deposit(config, early)
    return Morning(home, config, day, early, clock.now())

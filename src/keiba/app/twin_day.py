"""A simulated world's race day, served by a local twin of netkeiba: `keiba run --twin`.

`prepare_twin` imports the world's days before the chosen one (`demo.seed`, `demo.years`,
`demo.start_year`; default day: the world's last with three racecourses) into a dataset of their
own (`twin-seed<seed>`) and trains a model on them (once; a resumed day reuses it). `twin_setup`
serves the day from a twin of netkeiba on loopback whose pages follow a simulated clock; that
clock jumps from step to step, so a day takes minutes, not hours, and a restarted run resumes
where the journal stopped. Everything lands in `<home>/race-days/twin-seed<seed>/<date>/`
(journal, model store, MLflow runs, paper ledger).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from keiba.app.days import race_inputs_at
from keiba.app.race_day import DayRun, RaceDaySetup, SimulatedDay, run_race_day
from keiba.common.clock import SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import FsspecObjectStore, Warehouse
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.object_store import ObjectStore
from keiba.evaluator.evaluation import evaluate_frame
from keiba.execution import Broker
from keiba.feature_engineering import build_features
from keiba.model_training.pipeline import (
    LATEST_KEY,
    TrainingPeriods,
    plan_periods,
    train_and_store,
)
from keiba.monitor import AlertSink
from keiba.simulator import WorldConfig
from keiba.simulator.netkeiba_twin import TwinFaults, serve_twin
from keiba.simulator.netkeiba_twin_day import TwinDay
from keiba.simulator.netkeiba_twin_world import twin_day_with_history

__all__ = ["TWIN_ACCOUNT", "TwinPrepared", "prepare_twin", "twin_day", "twin_setup"]

TWIN_ACCOUNT = "paper"


def _twin_periods(warehouse: Warehouse) -> TrainingPeriods:
    """Train on the first 70% of the history's race days, fit the market stage on the rest."""
    days = sorted(warehouse.query("SELECT DISTINCT race_date FROM races")["race_date"])
    if len(days) < 8:
        raise KeibaError(f"the simulated history holds {len(days)} race days; at least 8 needed")
    cut = round(len(days) * 0.7)
    return plan_periods(warehouse, days[0], days[cut - 1], days[cut], days[-1])


def _twin_model(config: KeibaConfig, warehouse: Warehouse, run_dir: Path) -> ObjectStore:
    """The twin day's model store, trained on the world's history the first time."""
    store = FsspecObjectStore(str(run_dir / "models"))
    if not store.exists(LATEST_KEY):
        build_features(warehouse)
        train_and_store(
            config,
            warehouse,
            store,
            _twin_periods(warehouse),
            evaluate=evaluate_frame,
            tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}",
        )
    return store


@dataclass(frozen=True)
class TwinPrepared:
    """A twin day ready to run: the config selecting its dataset, the day, where it lands."""

    config: KeibaConfig
    day: TwinDay
    run_dir: Path
    model_store: ObjectStore


def prepare_twin(
    config: KeibaConfig, race_date: dt.date | None = None, *, world: WorldConfig | None = None
) -> TwinPrepared:
    """The world's history in its dataset and a model trained on it (both idempotent); the
    world is `demo`'s unless given."""
    demo = config.demo
    world = world or WorldConfig(years=demo.years, seed=demo.seed, start_year=demo.start_year)
    name = f"twin-seed{world.seed}"
    selected = config.with_dataset(name)
    with open_dataset(selected) as warehouse:
        try:
            day = twin_day_with_history(warehouse, world, SystemClock(), race_date)
        except ValueError as e:
            raise KeibaError(f"the simulated world (seed {world.seed}): {e}") from e
        run_dir = config.home / "race-days" / name / day.date.isoformat()
        run_dir.mkdir(parents=True, exist_ok=True)
        store = _twin_model(selected, warehouse, run_dir)
    return TwinPrepared(selected, day, run_dir, store)


@contextmanager
def twin_setup(
    prepared: TwinPrepared,
    *,
    faults: TwinFaults | None = None,
    broker: Broker | None = None,
    sinks: list[AlertSink] | None = None,
) -> Iterator[RaceDaySetup]:
    """The twin serving the day on a simulated clock (resumed from the journal's last step),
    and the race day's setup pointing at it."""
    config, day, run_dir = prepared.config, prepared.day, prepared.run_dir
    first_post = min(r.post_time for r in day.races)
    simulated = SimulatedDay(
        config,
        run_dir,
        TWIN_ACCOUNT,
        prepared.model_store,
        "simulated",
        race_inputs_at,
        funded_by="paper bankroll for a twin race day",
    )
    time = simulated.time_from(
        first_post - dt.timedelta(minutes=config.race_day.watch_from_min + 5)
    )
    with serve_twin(day, time.clock, faults) as url:
        setup = simulated.setup(time, url, broker=broker, sinks=sinks)
        yield replace(setup, auto_promote="twin")


def twin_day(config: KeibaConfig, race_date: dt.date | None) -> DayRun:
    """Play a simulated world's race day (default: its last with three racecourses)."""
    prepared = prepare_twin(config, race_date)
    with twin_setup(prepared) as setup:
        return run_race_day(setup, prepared.day.date)

"""The two kinds of race day `keiba run` runs: live, and a simulated world's day from the twin.

`live_setup` plugs in the wall clock, the collector's configured base URLs, the selected
dataset, the model store under the home directory and the configured ledger account; its
journal is `<home>/race-days/<date>.sqlite`.

`twin_day` plays one day of a simulated world (`demo.seed`, `demo.years`, `demo.start_year`):
the world's earlier days are imported into a dataset of their own (`twin-seed<seed>`), a model
is trained on them (once; a resumed day reuses it), and the day is served by a local twin of
netkeiba on loopback whose pages follow a simulated clock. That clock jumps from step to step,
so a whole day takes seconds, and it resumes where the journal stopped. Everything lands in
`<home>/race-days/twin-seed<seed>/<date>/` (journal, model store, paper ledger).
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from pathlib import Path

from keiba.app.race_day import DayRun, RaceDaySetup, run_race_day
from keiba.bankroll import Ledger
from keiba.common.bet_types import BetType
from keiba.common.clock import Clock, SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import FsspecObjectStore, Warehouse, create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.object_store import ObjectStore
from keiba.engine import RaceInputs
from keiba.engine.live import live_race_inputs
from keiba.evaluator.evaluation import evaluate_frame
from keiba.feature_engineering import build_features, build_features_for_entries
from keiba.model_training.pipeline import (
    LATEST_KEY,
    StoredModel,
    TrainingPeriods,
    plan_periods,
    train_and_store,
)
from keiba.scheduler import Journal, SimulatedTime, journal_path, live_sleep
from keiba.scheduler.handlers import RaceInputsAt
from keiba.simulator import WorldConfig
from keiba.simulator.netkeiba_twin import serve_twin
from keiba.simulator.netkeiba_twin_world import twin_day_with_history

__all__ = ["TWIN_ACCOUNT", "live_setup", "race_inputs_at", "twin_day"]


def race_inputs_at(
    warehouse: Warehouse, stored: StoredModel, pools: tuple[BetType, ...]
) -> RaceInputsAt:
    """A race's inputs as known at an instant: its features rebuilt from the card as it stands,
    then the card, the odds and the probabilities as of that instant."""

    def inputs_at(race_id: str, at: dt.datetime) -> RaceInputs:
        build_features_for_entries(warehouse, [race_id], at)
        return live_race_inputs(warehouse, race_id, at, stored.model, stored.combination, pools)

    return inputs_at


def live_setup(config: KeibaConfig, account: str, race_date: dt.date) -> RaceDaySetup:
    """A live race day: wall clock, netkeiba, the selected dataset, the configured ledger."""
    return RaceDaySetup(
        config=config,
        clock=SystemClock(),
        sleeper=live_sleep,
        journal_path=journal_path(config.home, race_date),
        ledger_url=config.ledger_url,
        account=account,
        model_store=FsspecObjectStore(config.object_store_url),
        inputs=race_inputs_at,
    )


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


def _twin_ledger(url: str, clock: Clock, bankroll_yen: int) -> None:
    engine = create_ledger_engine(url)
    try:
        ledger = Ledger(engine, clock, account=TWIN_ACCOUNT)
        if not ledger.history(limit=1):
            ledger.deposit(bankroll_yen, cause="paper bankroll for a twin race day")
    finally:
        engine.dispose()


def twin_day(config: KeibaConfig, race_date: dt.date | None) -> DayRun:
    """Play a simulated world's race day (default: its busiest) from the local twin."""
    demo = config.demo
    world = WorldConfig(years=demo.years, seed=demo.seed, start_year=demo.start_year)
    name = f"twin-seed{demo.seed}"
    selected = config.with_dataset(name)
    with open_dataset(selected) as warehouse:
        day = twin_day_with_history(warehouse, world, SystemClock(), race_date)
        run_dir = config.home / "race-days" / name / day.date.isoformat()
        run_dir.mkdir(parents=True, exist_ok=True)
        store = _twin_model(selected, warehouse, run_dir)
    journal = run_dir / "journal.sqlite"
    first_post = min(r.post_time for r in day.races)
    start = first_post - dt.timedelta(minutes=config.race_day.watch_from_min + 5)
    if journal.exists():
        with closing(Journal(journal)) as recorded:
            start = max(start, recorded.last_at() or start)
    time = SimulatedTime(start)
    ledger_url = f"sqlite:///{run_dir / 'ledger.sqlite'}"
    _twin_ledger(ledger_url, time.clock, config.backtest.bankroll_yen)
    with serve_twin(day, time.clock) as url:
        collector = selected.collector.model_copy(
            update={"race_base_url": url, "db_base_url": url, "result_source": "race"}
        )
        setup = RaceDaySetup(
            config=selected.model_copy(update={"collector": collector}),
            clock=time.clock,
            sleeper=time.sleep,
            journal_path=journal,
            ledger_url=ledger_url,
            account=TWIN_ACCOUNT,
            model_store=store,
            inputs=race_inputs_at,
            kind="simulated",
        )
        return run_race_day(setup, day.date)

"""The twin day the release tests play: a small simulated world's history and a model trained on
it, prepared once per module; each test plays three overlapping races of its last three-venue
day from a fresh copy, with the twin's own ledger holding the releases.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from keiba.app.race_day import DayRun, run_race_day
from keiba.app.twin_day import TwinPrepared, twin_setup
from keiba.common.clock import JST, FixedClock
from keiba.common.config import KeibaConfig, ThemisConfig, load_config
from keiba.common.storage import FsspecObjectStore, create_ledger_engine
from keiba.model_training.pipeline import StoredModel
from keiba.monitor import MemorySink
from keiba.release import GateFigures, ReleaseBook
from keiba.simulator.netkeiba_twin_day import TwinDay
from twin_home import MODEL, WORLD, TwinHome

SETTINGS = {
    "model": MODEL,
    # a policy that buys on this small world's day: its model adds little to the market
    "themis": {"ev_threshold": 1.0},
    "race_day": {"watch_from_min": 60, "weights_lead_min": 30, "poll_bands": [[60, 10], [0, 5]]},
}
GOOD = GateFigures(
    backtest={"bets": 120, "return_rate": 0.97},
    monte_carlo={"p_drawdown": 0.02, "level": 0.3, "kelly_fraction": 0.25},
    delta_r2={"delta": 0.004, "low": 0.001, "high": 0.007},
)
WEDNESDAY_NOON = dt.datetime(2031, 1, 8, 12, 0, tzinfo=JST)
SATURDAY_NOON = dt.datetime(2031, 1, 11, 12, 0, tzinfo=JST)


def _config(home: Path) -> KeibaConfig:
    return load_config(None, home, SETTINGS)


@pytest.fixture(scope="module")
def prepared_home(
    tmp_path_factory: pytest.TempPathFactory, twin_home: TwinHome
) -> tuple[Path, TwinPrepared]:
    home = tmp_path_factory.mktemp("twin-home")
    return home, twin_home.prepare(_config(home), world=WORLD)


@pytest.fixture
def prepared(prepared_home: tuple[Path, TwinPrepared], tmp_path: Path) -> TwinPrepared:
    home, original = prepared_home
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    run_dir = copy / original.run_dir.relative_to(home)
    firsts: dict[object, object] = {}
    for race in sorted(original.day.races, key=lambda r: r.post_time):
        firsts.setdefault(race.race["venue_code"], race)
    day = TwinDay(original.day.date, tuple(firsts.values()))  # type: ignore[arg-type]
    config = original.config.model_copy(update={"home": copy})
    return TwinPrepared(config, day, run_dir, FsspecObjectStore(str(run_dir / "models")))


def play(prepared: TwinPrepared, *, auto_promote: str | None) -> tuple[DayRun, MemorySink]:
    sink = MemorySink()
    with twin_setup(prepared, sinks=[sink]) as setup:
        return run_race_day(replace(setup, auto_promote=auto_promote), prepared.day.date), sink


def release_config(prepared: TwinPrepared, **themis: object) -> KeibaConfig:
    """The configuration whose ledger and object store are the twin day's own."""
    storage = prepared.config.storage.model_copy(
        update={
            "ledger_url": f"sqlite:///{prepared.run_dir / 'ledger.sqlite'}",
            "object_store_url": str(prepared.run_dir / "models"),
        }
    )
    policy = prepared.config.themis.model_copy(update=themis)
    return prepared.config.model_copy(update={"storage": storage, "themis": policy})


def measured(figures: GateFigures) -> object:
    def measure(config: KeibaConfig, stored: StoredModel, policy: ThemisConfig) -> GateFigures:
        return figures

    return measure


def book_of(prepared: TwinPrepared) -> ReleaseBook:
    engine = create_ledger_engine(f"sqlite:///{prepared.run_dir / 'ledger.sqlite'}")
    return ReleaseBook(engine, FixedClock(WEDNESDAY_NOON))

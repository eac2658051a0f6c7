"""A recorded race day replayed: `keiba run --date D --replay`.

Every race day (live or the twin's) stores each page it fetched, with the instant it fetched
it, in the object store. The replay serves those pages again on loopback, each as it stood at
the replay's simulated clock (`keiba.data_collector.recorded`), and runs the same race day on
them: the same scheduler, the same engine, the same code as live. What changes in between —
a new model, other Themis settings, another decision lead — shows in the replay's outcome
table, on exactly what could have been known at each moment.

The replay touches nothing of the recorded day. It runs in
`<home>/race-days/<dataset>/<date>/replay/` on a copy of the dataset as it stood before the day
(the day's and later races removed), with its own object store, journal and paper ledger
(account `paper`, funded with `backtest.bankroll_yen`). It uses the configured model store's
latest model, or the model of the twin's run of that day when there is one
(`<home>/race-days/<dataset>/<date>/models`). Stopped, it resumes from its journal; `fresh`
starts it over. As its simulated clock advances it records where it stands in its journal
(`Journal.set_clock`), so `keiba serve --replay` can follow it from another process. It runs as
fast as it can, or at a pace (simulated seconds per wall second) for someone to watch.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from keiba.app.days import race_inputs_at
from keiba.app.race_day import DayRun, RaceDaySetup, SimulatedDay, Sleeper, run_race_day
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.loopback import serve_answers
from keiba.common.schema import DatasetKind
from keiba.common.storage import FsspecObjectStore
from keiba.common.storage.datasets import dataset_files
from keiba.common.storage.object_store import ObjectStore
from keiba.common.storage.warehouse import DuckDBWarehouse
from keiba.data_collector.recorded import RecordedDay
from keiba.execution import Broker
from keiba.feature_engineering import (
    HISTORY_KEY_TABLE,
    HISTORY_TABLE,
    RATINGS_KEY_TABLE,
    RATINGS_TABLE,
)
from keiba.model_training.pipeline import LATEST_KEY
from keiba.monitor import AlertSink
from keiba.scheduler import Journal, SimulatedTime, live_sleep

__all__ = [
    "REPLAY_ACCOUNT",
    "ReplayPrepared",
    "model_store_url",
    "prepare_replay",
    "recording_sleeper",
    "replay_day",
    "replay_dir",
    "replay_setup",
]

REPLAY_ACCOUNT = "paper"


@dataclass(frozen=True)
class ReplayPrepared:
    """A recorded day ready to replay: its pages, where the replay runs, what it runs with."""

    config: KeibaConfig
    """Pointing at the replay's own copy of the dataset and its own object store."""
    recorded: RecordedDay
    run_dir: Path
    model_store: ObjectStore
    kind: DatasetKind


def _history_copy(config: KeibaConfig, race_date: dt.date, target_dir: Path) -> DatasetKind:
    """Copy the dataset as it stood before the day into `target_dir` (once); its kind."""
    name = config.storage.dataset
    target = target_dir / f"{name}.duckdb"
    if not target.exists():
        files = dataset_files(config, name)
        if config.dataset_path(name) not in files:
            raise KeibaError(f"there is no dataset {name!r} in {config.warehouse_dir}")
        partial = target_dir / "partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for path in files:
            shutil.copy2(path, partial / path.name)
        with DuckDBWarehouse(partial / target.name, dataset=name) as copy:
            copy.forget_from(
                race_date, drop=(HISTORY_TABLE, HISTORY_KEY_TABLE, RATINGS_TABLE, RATINGS_KEY_TABLE)
            )
        for path in partial.iterdir():
            path.rename(target_dir / path.name)
        partial.rmdir()
    with DuckDBWarehouse(target, dataset=name, read_only=True) as copy:
        return copy.kind() or "real"


def model_store_url(config: KeibaConfig, race_date: dt.date) -> str:
    """Where the replay of `race_date` takes its model: the twin's run of that day's store when
    there is one, else the configured object store."""
    twin = config.home / "race-days" / config.storage.dataset / race_date.isoformat() / "models"
    if FsspecObjectStore(str(twin)).exists(LATEST_KEY):
        return str(twin)
    return config.object_store_url


def _model_store(config: KeibaConfig, race_date: dt.date) -> ObjectStore:
    return FsspecObjectStore(model_store_url(config, race_date))


def replay_dir(config: KeibaConfig, race_date: dt.date) -> Path:
    """Where the selected dataset's replay of `race_date` runs."""
    return config.home / "race-days" / config.storage.dataset / race_date.isoformat() / "replay"


def prepare_replay(
    config: KeibaConfig, race_date: dt.date, *, fresh: bool = False
) -> ReplayPrepared:
    """The recorded pages of the selected dataset's day, and the replay's copy of the dataset."""
    name = config.storage.dataset
    if config.storage.warehouse != "duckdb":
        raise KeibaError(
            "replaying a recorded day copies the dataset as it stood before the day, which only "
            "the embedded warehouse does: replay with storage.warehouse = duckdb"
        )
    recorded = RecordedDay(FsspecObjectStore(config.object_store_url), name, race_date)
    if not recorded.pages:
        raise KeibaError(
            f"no pages were recorded for {race_date} in dataset {name!r}: a day is recorded "
            "by running it (`keiba run --date`)"
        )
    run_dir = replay_dir(config, race_date)
    if fresh:
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    kind = _history_copy(config, race_date, run_dir / "warehouse")
    storage = config.storage.model_copy(
        update={
            "warehouse_dir": run_dir / "warehouse",
            "object_store_url": str(run_dir / "objects"),
        }
    )
    replay_config = config.model_copy(update={"storage": storage})
    return ReplayPrepared(replay_config, recorded, run_dir, _model_store(config, race_date), kind)


@contextmanager
def replay_setup(
    prepared: ReplayPrepared,
    *,
    broker: Broker | None = None,
    sinks: list[AlertSink] | None = None,
    pace: float | None = None,
    wait: Sleeper = live_sleep,
) -> Iterator[RaceDaySetup]:
    """The recorded pages served on a simulated clock that starts where the recorded day did
    (or where the replay's journal stopped), and the race day's setup pointing at them; with
    `pace`, that many simulated seconds to a wall second (`recording_sleeper`)."""
    recorded = prepared.recorded
    simulated = SimulatedDay(
        prepared.config,
        prepared.run_dir,
        REPLAY_ACCOUNT,
        prepared.model_store,
        prepared.kind,
        race_inputs_at,
        funded_by="paper bankroll for a replayed race day",
    )
    start = recorded.first_fetch
    assert start is not None  # prepare_replay refuses a day without pages
    time = simulated.time_from(start)
    with (
        closing(Journal(simulated.journal)) as journal,
        serve_answers(
            lambda path: recorded.answer(path, time.clock.now()),
            time.clock.now,
            name="recorded-day",
        ) as url,
    ):
        setup = simulated.setup(
            time, url, result_source=recorded.result_source, broker=broker, sinks=sinks
        )
        sleeper = recording_sleeper(time, journal, pace, wait)
        yield replace(setup, sleeper=sleeper, auto_promote="replay")


def recording_sleeper(
    time: SimulatedTime, journal: Journal, pace: float | None = None, wait: Sleeper = live_sleep
) -> Sleeper:
    """The simulated sleeper, recording in the journal where the clock stands after each move.

    Without `pace` the clock jumps at once. With it, each `pace` simulated seconds take a wall
    second (`wait`), in moves of at most one wall second, so someone watching sees the clock
    go round."""
    journal.set_clock(time.clock.now())

    def sleep(seconds: float) -> None:
        if pace is None:
            time.sleep(seconds)
            journal.set_clock(time.clock.now())
            return
        left = max(seconds, 0.0)
        while True:
            move = min(left, pace)
            if move > 0:
                wait(move / pace)
            time.sleep(move)
            journal.set_clock(time.clock.now())
            left -= move
            if left <= 0:
                return

    return sleep


def replay_day(
    config: KeibaConfig, race_date: dt.date, *, fresh: bool = False, pace: float | None = None
) -> DayRun:
    """Replay the selected dataset's recorded day `race_date` (resumed unless `fresh`), as fast
    as it can or, with `pace`, that many simulated seconds to a wall second."""
    if pace is not None and pace <= 0:
        raise KeibaError(f"a replay's pace is simulated seconds per wall second, above 0: {pace}")
    prepared = prepare_replay(config, race_date, fresh=fresh)
    with replay_setup(prepared, pace=pace) as setup:
        return run_race_day(setup, race_date)

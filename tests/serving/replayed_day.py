"""A recorded race day to replay and watch: a three-race day of a small simulated world played
once against the netkeiba twin (every page it fetched stored with its instant), and a replay of
it run in a thread whose simulated clock advances only when the test lets it.

`Gate` wraps the replay's sleeper: each time the replay's clock is about to advance, the replay
waits until the test lets it go on (`step`, `run_free`) — or, with `hold_while`, until a
condition no longer holds. The replay is otherwise the product's: `prepare_replay` and
`replay_setup` (which records the clock in the journal), `run_race_day`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from keiba.app.race_day import DayRun, fund_paper_ledger, run_race_day
from keiba.app.recorded_day import REPLAY_ACCOUNT, ReplayPrepared, replay_setup
from keiba.app.serving import day_plan
from keiba.app.twin_day import TwinPrepared, twin_setup
from keiba.bankroll import Ledger
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.storage import create_ledger_engine
from keiba.serving.app import ServeSettings
from keiba.simulator.netkeiba_twin_day import TwinDay
from twin_home import MODEL, WORLD, TwinHome

SETTINGS = {
    "model": MODEL,
    "race_day": {"watch_from_min": 60, "weights_lead_min": 30, "poll_bands": [[60, 10], [0, 5]]},
}
PATIENCE_S = 120.0
"""How long a test waits for the other side (the replay, the server, the browser)."""


def _config(home: Path) -> KeibaConfig:
    config = load_config(home=home)
    return config.model_copy(
        update={
            name: getattr(config, name).model_validate(
                {**getattr(config, name).model_dump(), **values}
            )
            for name, values in SETTINGS.items()
        }
    )


def _three_races(day: TwinDay) -> TwinDay:
    """The first race of each racecourse."""
    firsts: dict[object, object] = {}
    for race in sorted(day.races, key=lambda r: r.post_time):
        firsts.setdefault(race.race["venue_code"], race)
    return TwinDay(day.date, tuple(firsts.values()))  # type: ignore[arg-type]


def recorded_day(home: Path, twin_home: TwinHome) -> tuple[KeibaConfig, dt.date]:
    """Play a three-race twin day in `home` (so it is recorded), prepared from a copy of
    `twin_home`; its configuration (the twin's dataset selected) and date."""
    full = twin_home.prepare(_config(home), world=WORLD)
    prepared = TwinPrepared(full.config, _three_races(full.day), full.run_dir, full.model_store)
    with twin_setup(prepared) as setup:
        run_race_day(setup, prepared.day.date)
    return prepared.config, prepared.day.date


class Gate:
    """Lets the replay's clock advance one sleep at a time, when the test says so."""

    def __init__(self, hold_while: Callable[[], bool] | None = None) -> None:
        self.hold_while = hold_while
        self.sleeps = 0
        self.free = False
        self.failed: BaseException | None = None
        self._cond = threading.Condition()
        self._allowed = 0
        self._waiting = False
        self.done = False

    def wrap(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        def gated(seconds: float) -> None:
            deadline = time.monotonic() + PATIENCE_S
            with self._cond:
                self._waiting = True
                self._cond.notify_all()
                while not self._may_go():  # `hold_while` reads another process's files: polled
                    if time.monotonic() > deadline:
                        raise TimeoutError("the test never let the replay go on")
                    self._cond.wait(0.05)
                self._waiting = False
                if not self.free:
                    self._allowed -= 1
                self.sleeps += 1
            sleep(seconds)

        return gated

    def _may_go(self) -> bool:
        if self.hold_while is not None and self.hold_while():
            return False
        return self.free or self._allowed > 0

    def step(self, n: int = 1) -> None:
        """Let the replay advance `n` times and wait until it waits again (or has ended)."""
        with self._cond:
            self._allowed += n
            self._cond.notify_all()
            self._cond.wait_for(lambda: (self._allowed == 0 and self._waiting) or self.done,
                                timeout=PATIENCE_S)  # fmt: skip

    def run_free(self) -> None:
        with self._cond:
            self.free = True
            self._cond.notify_all()

    def end(self, failed: BaseException | None) -> None:
        """The replay has ended (with what it raised)."""
        with self._cond:
            self.done, self.failed = True, failed
            self._cond.notify_all()


@dataclass
class Replaying:
    """A replay running in a thread."""

    thread: threading.Thread
    gate: Gate
    result: list[DayRun]

    def join(self) -> DayRun:
        self.gate.run_free()
        self.thread.join(PATIENCE_S)
        assert not self.thread.is_alive(), "the replay did not end"
        if self.gate.failed is not None:
            raise self.gate.failed
        return self.result[0]


def start_replay(prepared: ReplayPrepared, race_date: dt.date, gate: Gate) -> Replaying:
    result: list[DayRun] = []

    def run() -> None:
        failed = None
        try:
            with replay_setup(prepared) as setup:
                result.append(run_race_day(replace(setup, sleeper=gate.wrap(setup.sleeper)),
                                           race_date))  # fmt: skip
        except BaseException as e:  # handed to the test
            failed = e
        finally:
            gate.end(failed)

    thread = threading.Thread(target=run, name="replay", daemon=True)
    thread.start()
    return Replaying(thread, gate, result)


def inject_stop(prepared_config: KeibaConfig, run_dir: Path, at: dt.datetime) -> None:
    """The replay's paper ledger opened as the replay opens it, with a latched drawdown stop."""
    url = f"sqlite:///{run_dir / 'ledger.sqlite'}"
    clock = FixedClock(at)
    fund_paper_ledger(url, REPLAY_ACCOUNT, clock, prepared_config.backtest.bankroll_yen, "paper")
    engine = create_ledger_engine(url)
    try:
        ledger = Ledger.existing(engine, clock, REPLAY_ACCOUNT)
        ledger.record_monitor_event("drawdown_tier", {"tier": "stop", "stop_buying": True})
    finally:
        engine.dispose()


def held_by_the_monitor(settings: ServeSettings, day: dt.date) -> bool:
    """A race was skipped by the monitor and the stop is still latched: the test's replay
    waits for the operator here (a real one would skip race after race meanwhile)."""
    assert settings.replay is not None
    if not settings.replay.journal.exists():
        return False
    plan = day_plan(settings.config, day, settings.replay.journal)
    skipped = any((r["reason"] or "").startswith("monitor: ") for r in plan["races"])
    return skipped and bool(settings.reads.monitor_state(settings.account)["stopped"])

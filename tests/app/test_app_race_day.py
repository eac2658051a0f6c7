"""A race day end to end against the netkeiba twin, in simulated time, and its degraded modes.

A small simulated world's history is imported and a model trained on it once; each test then
plays three overlapping races of the world's last three-venue day from a fresh copy, with a
fault of the twin (or of the broker, the model or the monitor) switched on, and checks that
every race ends with an outcome and the reason the fault explains.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from keiba.app.race_day import DayRun, run_race_day
from keiba.app.twin_day import TwinPrepared, twin_setup
from keiba.bankroll import Ledger, Ticket
from keiba.bankroll.audit import verify
from keiba.common.config import KeibaConfig, load_config
from keiba.common.storage import FsspecObjectStore, create_ledger_engine
from keiba.execution import Submission
from keiba.monitor import MemorySink, Monitor
from keiba.scheduler import Outcome
from keiba.simulator.netkeiba_twin import TwinFaults
from keiba.simulator.netkeiba_twin_day import TwinDay
from twin_home import MODEL, WORLD, TwinHome

SETTINGS = {
    "model": MODEL,
    "race_day": {
        "watch_from_min": 60,
        "weights_lead_min": 30,
        "poll_bands": [[60, 10], [0, 5]],
    },
}


def _config(home: Path, **sections: dict[str, object]) -> KeibaConfig:
    return load_config(None, home, {**SETTINGS, **sections})


@pytest.fixture(scope="module")
def prepared_home(
    tmp_path_factory: pytest.TempPathFactory, twin_home: TwinHome
) -> tuple[Path, TwinPrepared]:
    home = tmp_path_factory.mktemp("twin-home")
    return home, twin_home.prepare(_config(home), world=WORLD)


def _three_races(day: TwinDay) -> TwinDay:
    """The first race of each racecourse: three races whose decisions overlap."""
    firsts: dict[object, object] = {}
    for race in sorted(day.races, key=lambda r: r.post_time):
        firsts.setdefault(race.race["venue_code"], race)
    return TwinDay(day.date, tuple(firsts.values()))  # type: ignore[arg-type]


@pytest.fixture
def prepared(prepared_home: tuple[Path, TwinPrepared], tmp_path: Path) -> TwinPrepared:
    """A fresh copy of the prepared home: a day played in it touches no other test."""
    home, original = prepared_home
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    run_dir = copy / original.run_dir.relative_to(home)
    config = original.config.model_copy(update={"home": copy})
    return TwinPrepared(
        config,
        _three_races(original.day),
        run_dir,
        FsspecObjectStore(str(run_dir / "models")),
    )


def play(prepared: TwinPrepared, **kw: object) -> tuple[DayRun, MemorySink]:
    sink = MemorySink()
    with twin_setup(prepared, sinks=[sink], **kw) as setup:  # type: ignore[arg-type]
        return run_race_day(setup, prepared.day.date), sink


def outcomes(day: DayRun) -> dict[str, tuple[Outcome, str]]:
    return {race: (o.outcome, o.reason) for race, o in day.outcomes.items()}


def kinds(sink: MemorySink) -> set[str]:
    return {a.kind for a in sink.alerts}


def test_every_race_of_the_day_ends_bought_or_passed_and_the_ledger_agrees(
    prepared: TwinPrepared,
) -> None:
    day, _ = play(prepared)
    assert set(day.outcomes) == {r.netkeiba_id for r in prepared.day.races}
    assert {o.outcome for o in day.outcomes.values()} <= {Outcome.BOUGHT, Outcome.PASSED}, outcomes(
        day
    )
    engine = create_ledger_engine(day.ledger)
    tickets = Ledger(engine, FixedNow(), day.account).tickets()
    assert all(t["state"] == "settled" for t in tickets)
    staked = sum(int(t["stake_yen"]) for t in tickets)
    paid = sum(int(t["payout_yen"]) for t in tickets)
    assert day.balance_yen == prepared.config.backtest.bankroll_yen - staked + paid
    assert sum(r["staked_yen"] for r in day.rows()) == staked
    assert verify(engine).ok


class FixedNow:
    """A clock for reading the ledger after the day (reads take no time)."""

    def now(self) -> dt.datetime:
        return dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_stale_odds_are_not_bet_on(prepared: TwinPrepared) -> None:
    faults = TwinFaults()
    first_post = min(r.post_time for r in prepared.day.races)
    faults.freeze_odds(first_post - dt.timedelta(minutes=50))
    day, _ = play(prepared, faults=faults)
    for outcome, reason in outcomes(day).values():
        assert outcome is Outcome.SKIPPED
        assert "s old at decision (limit 300 s)" in reason


def test_a_blocked_collector_backs_off_alerts_and_skips_what_cannot_be_decided(
    prepared: TwinPrepared,
) -> None:
    faults = TwinFaults()
    first_post = min(r.post_time for r in prepared.day.races)
    last_post = max(r.post_time for r in prepared.day.races)
    faults.block(429, start=first_post - dt.timedelta(minutes=20), end=last_post)
    day, sink = play(prepared, faults=faults)
    assert "scheduler.collector_blocked" in kinds(sink)
    for outcome, reason in outcomes(day).values():
        assert outcome is Outcome.SKIPPED
        assert "collector blocked (HTTP 429)" in reason


def test_a_source_that_is_down_is_alerted_and_no_race_is_left_without_an_outcome(
    prepared: TwinPrepared,
) -> None:
    faults = TwinFaults()
    first_post = min(r.post_time for r in prepared.day.races)
    faults.down("503", start=first_post - dt.timedelta(minutes=60))  # after the plan
    day, sink = play(prepared, faults=faults)
    assert "scheduler.steps_failing" in kinds(sink)
    assert set(day.outcomes) == {r.netkeiba_id for r in prepared.day.races}
    for outcome, reason in outcomes(day).values():
        assert outcome in (Outcome.SKIPPED, Outcome.FAILED)
        assert reason


def test_no_usable_model_means_no_bets_and_an_alert(prepared: TwinPrepared) -> None:
    shutil.rmtree(prepared.run_dir / "models")
    day, sink = play(replace(prepared, model_store=FsspecObjectStore(str(prepared.run_dir / "m"))))
    assert "race_day.no_model" in kinds(sink)
    for outcome, reason in outcomes(day).values():
        assert outcome is Outcome.SKIPPED and reason.startswith("no usable model:")
    assert day.model_version is None


def test_a_source_whose_clock_disagrees_with_ours_is_alerted(prepared: TwinPrepared) -> None:
    faults = TwinFaults()
    faults.skew_stamps(dt.timedelta(minutes=5))
    day, sink = play(prepared, faults=faults)
    skews = [a for a in sink.alerts if a.kind == "race_day.clock_skew"]
    assert skews and "+300 s from ours" in skews[0].message
    assert set(day.outcomes) == {r.netkeiba_id for r in prepared.day.races}


def test_a_monitor_stop_holds_every_race_until_an_operator_resumes(
    prepared: TwinPrepared,
) -> None:
    with twin_setup(prepared) as setup:
        engine = create_ledger_engine(setup.ledger_url)
        ledger = Ledger(engine, setup.clock, setup.account)
        monitor = Monitor.for_ledger(prepared.config.monitor, setup.clock, ledger, [MemorySink()])
        balance = int(ledger.balance())
        assert monitor.check(peak_yen=balance * 2, balance_yen=balance).stop_buying
        engine.dispose()
    day, _ = play(prepared)
    for outcome, reason in outcomes(day).values():
        assert outcome is Outcome.SKIPPED and reason.startswith("monitor: ")


class DownBroker:
    def __init__(self) -> None:
        self.calls = 0

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        self.calls += 1
        raise ConnectionError("the venue did not answer")

    def history(self, day: dt.date) -> list[object]:
        raise ConnectionError("the venue did not answer")


def test_a_broker_that_fails_leaves_the_tickets_reserved_and_alerts(
    prepared: TwinPrepared,
) -> None:
    generous = _config(prepared.config.home, themis={"ev_threshold": 1.0})
    generous = generous.with_dataset(prepared.config.storage.dataset)
    broker = DownBroker()
    day, sink = play(replace(prepared, config=generous), broker=broker)
    failed = {r: why for r, (o, why) in outcomes(day).items() if o is Outcome.FAILED}
    assert broker.calls == len(failed) > 0
    assert all("the broker failed" in why and "left reserved" in why for why in failed.values())
    assert "engine.broker_failed" in kinds(sink)
    assert "execution.not_reconciled" in kinds(sink)  # at settlement: the history is down too
    engine = create_ledger_engine(day.ledger)
    tickets = Ledger(engine, FixedNow(), day.account).tickets()
    assert tickets and {t["state"] for t in tickets} == {"unknown"}


def test_a_day_prepares_its_features_and_with_the_process_to_itself_settles_its_heap(
    prepared: TwinPrepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keiba.app.race_day as race_day_module
    from keiba.engine import RaceEngine

    events: list[str] = []
    decide = RaceEngine.decide

    def deciding(engine: RaceEngine, *args: object, **kwargs: object) -> object:
        events.append("decide")
        return decide(engine, *args, **kwargs)  # type: ignore[arg-type]

    prepare = race_day_module.prepare_race_day

    def preparing(*args: Any) -> None:
        events.append("prepare")
        prepare(*args)

    monkeypatch.setattr(race_day_module, "settle_heap", lambda: events.append("settle"))
    monkeypatch.setattr(race_day_module, "prepare_race_day", preparing)
    monkeypatch.setattr(RaceEngine, "decide", deciding)
    sink = MemorySink()
    with twin_setup(prepared, sinks=[sink]) as setup:
        run_race_day(setup, prepared.day.date)
    assert events.count("settle") == 0  # a day sharing its process (tests, the demo) does not
    assert events[:2] == ["prepare", "decide"]  # the day's features prepared before it decides
    events.clear()
    prepared = replace(prepared, run_dir=prepared.run_dir.parent / "second")
    with twin_setup(prepared, sinks=[sink]) as setup:
        run_race_day(replace(setup, settle_heap=True), prepared.day.date)
    assert events[:4] == ["prepare", "settle", "decide", "settle"], events
    assert events.count("settle") == 2
    assert events.count("decide") == len(prepared.day.races)

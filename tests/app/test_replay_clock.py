"""A replay's sleeper: it records the simulated clock in the journal as it moves, and at a pace
it takes a wall second per `pace` simulated seconds, in moves of at most a wall second."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from keiba.app.recorded_day import recording_sleeper, replay_day
from keiba.common.config import load_config
from keiba.common.errors import KeibaError
from keiba.scheduler import Journal, SimulatedTime, recorded_clock

T0 = dt.datetime(2026, 6, 28, 0, 30, tzinfo=dt.UTC)


def test_the_clock_is_recorded_as_it_jumps(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    time, waited = SimulatedTime(T0), list[float]()
    journal = Journal(path)
    try:
        sleep = recording_sleeper(time, journal, wait=waited.append)
        assert recorded_clock(path) == T0  # where it starts, before any move
        sleep(300)
        assert recorded_clock(path) == T0 + dt.timedelta(seconds=300) == time.clock.now()
        assert waited == []  # no pace: at once
    finally:
        journal.close()


def test_at_a_pace_the_clock_moves_a_wall_second_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    time, waited = SimulatedTime(T0), list[float]()
    seen: list[dt.datetime | None] = []
    journal = Journal(path)
    try:

        def wait(seconds: float) -> None:
            waited.append(seconds)
            seen.append(recorded_clock(path))

        sleep = recording_sleeper(time, journal, pace=60, wait=wait)
        sleep(150)
        sleep(0)
    finally:
        journal.close()
    assert waited == [1.0, 1.0, 0.5]
    assert seen == [T0 + dt.timedelta(seconds=s) for s in (0, 60, 120)]  # recorded between
    assert time.clock.now() == T0 + dt.timedelta(seconds=150) == recorded_clock(path)


def test_a_pace_must_move_forward(tmp_path: Path) -> None:
    with pytest.raises(KeibaError, match="above 0"):
        replay_day(load_config(home=tmp_path), T0.date(), pace=0)

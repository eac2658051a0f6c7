"""A simulated world's history before the twin's day, in a warehouse of its own kind."""

from __future__ import annotations

import datetime as dt

import pytest

from keiba.common.clock import FixedClock
from keiba.common.storage import DatasetKindError, DuckDBWarehouse, LoadSource
from keiba.simulator import WorldConfig, generate_world
from keiba.simulator.netkeiba_twin_day import busiest_day
from keiba.simulator.netkeiba_twin_world import twin_day_with_history

WORLD = WorldConfig(seed=5, max_race_days=7)
CLOCK = FixedClock(dt.datetime(2015, 3, 1, tzinfo=dt.UTC))


def test_the_history_is_every_race_before_the_day_and_the_day_is_the_twins() -> None:
    world = generate_world(WORLD)
    days = sorted(world.races["race_date"].unique().to_list())
    with DuckDBWarehouse(None) as w:
        day = twin_day_with_history(w, WORLD, CLOCK, days[4])
        assert day.date == days[4]
        assert {r.race_id for r in day.races} == set(
            world.races.filter(world.races["race_date"] == days[4])["race_id"]
        )
        stored = w.query("SELECT race_id, race_date FROM races")
        expected = world.races.filter(world.races["race_date"] < days[4])
        assert set(stored["race_id"]) == set(expected["race_id"])
        for name in ("runners", "payouts", "odds", "true_probabilities"):
            rows = int(w.query(f"SELECT count(*) AS n FROM {name}")["n"][0])
            assert (
                rows
                == getattr(world, name)
                .filter(getattr(world, name)["race_id"].is_in(expected["race_id"].implode()))
                .height
            ), name
        assert w.kind() == "simulated"
        again = twin_day_with_history(w, WORLD, CLOCK, days[4])  # loading again changes nothing
        assert again == day and w.query("SELECT count(*) AS n FROM races")["n"][0] == len(stored)
        assert twin_day_with_history(w, WORLD, CLOCK).date == busiest_day(world, latest=True)


def test_a_dataset_of_real_races_refuses_the_history() -> None:
    world = generate_world(WORLD)
    with DuckDBWarehouse(None) as w:
        first = world.races.head(1)
        w.load({"races": first}, LoadSource("real", "netkeiba", CLOCK.now()))
        with pytest.raises(DatasetKindError, match="holds real races and these are simulated"):
            twin_day_with_history(w, WORLD, CLOCK)

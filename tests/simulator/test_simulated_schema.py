"""The contract: every frame of a simulated world matches its schema table exactly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from keiba.common.ids import RaceKey
from keiba.common.polars_types import POLARS_TYPES
from keiba.common.schema import ODDS, PAYOUTS, RACES, RUNNERS, TRUE_PROBABILITIES, Column, Table
from keiba.common.schema import LogicalType as T
from keiba.simulator import SimulatedWorld

_TABLES = {
    "races": RACES,
    "runners": RUNNERS,
    "payouts": PAYOUTS,
    "odds": ODDS,
    "true_probabilities": TRUE_PROBABILITIES,
}


def _violations(frame: pl.DataFrame, column: Column) -> list[str]:
    values = frame[column.name]
    problems = []
    if values.dtype != POLARS_TYPES[column.type]:
        problems.append(f"dtype {values.dtype}, expected {POLARS_TYPES[column.type]}")
    if not column.nullable and values.null_count():
        problems.append(f"{values.null_count()} nulls")
    present = values.drop_nulls()
    if column.type is T.FLOAT and present.is_nan().any():
        problems.append("NaN")
    if column.choices is not None:
        bad = present.filter(~present.is_in(list(column.choices))).unique().to_list()
        if bad:
            problems.append(f"values outside choices: {bad[:5]}")
    if column.minimum is not None and present.len():
        low = present.min()
        assert isinstance(low, int | float)
        if low < column.minimum or (column.exclusive_minimum and low <= column.minimum):
            problems.append(f"minimum {low} below {column.minimum}")
    if column.maximum is not None and present.len():
        high = present.max()
        assert isinstance(high, int | float)
        if high > column.maximum:
            problems.append(f"maximum {high} above {column.maximum}")
    if column.pattern is not None:
        bad = present.filter(~present.str.contains(f"^(?:{column.pattern})$")).head(3).to_list()
        if bad:
            problems.append(f"not matching {column.pattern}: {bad}")
    return problems


def _check(frame: pl.DataFrame, table: Table) -> None:
    assert frame.columns == list(table.column_names), table.name
    problems = {c.name: _violations(frame, c) for c in table.columns}
    assert not {k: v for k, v in problems.items() if v}, table.name
    assert not frame.select(table.key).is_duplicated().any(), f"{table.name}: duplicate key"


@pytest.mark.parametrize("name", list(_TABLES))
def test_every_frame_matches_its_schema_table(
    year_world: SimulatedWorld, small_world: SimulatedWorld, name: str
) -> None:
    for world in (year_world, small_world):
        frame = world.frames()[name]
        assert frame.height > 0
        _check(frame, _TABLES[name])


def test_race_ids_are_race_keys_that_agree_with_the_race_columns(
    year_world: SimulatedWorld,
) -> None:
    races = year_world.races
    for row in races.sample(300, seed=1).iter_rows(named=True):
        key = RaceKey.parse(row["race_id"])
        assert key.race_date == row["race_date"]
        assert (key.venue.value, key.meeting, key.meeting_day, key.race_no) == (
            row["venue_code"],
            row["meeting"],
            row["meeting_day"],
            row["race_no"],
        )
        assert str(key.to_netkeiba()) == row["netkeiba_race_id"]
    assert (races["source"] == "simulated").all()


def test_every_row_belongs_to_a_race(year_world: SimulatedWorld) -> None:
    race_ids = year_world.races["race_id"]
    for name in ("runners", "payouts", "odds", "true_probabilities"):
        frame = year_world.frames()[name]
        assert frame["race_id"].is_in(race_ids.implode()).all(), name
    per_race = year_world.runners.group_by("race_id").len()
    joined = year_world.races.join(per_race, on="race_id")
    assert (joined["field_size"] == joined["len"]).all()


def test_the_canonical_importer_accepts_the_world(
    small_world: SimulatedWorld, tmp_path: Path
) -> None:
    from keiba.data_collector.canonical import read_canonical, write_canonical

    write_canonical(small_world.frames(), tmp_path, "parquet")
    frames = read_canonical(tmp_path)
    for name, frame in small_world.frames().items():
        assert frames[name].height == frame.height, name

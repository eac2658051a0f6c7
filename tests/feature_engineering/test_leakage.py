"""Every feature group is point in time: a race day's results move no feature of that day or
before, they do move the group's features of later days, and a window widened to include the
current day is caught."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from feature_engineering.synthetic import make_world, warehouse_of
from keiba.feature_engineering import FEATURE_GROUPS, feature_sql

Frames = dict[str, pl.DataFrame]
KEYS = ["race_id", "horse_no"]
HISTORY_GROUPS = ["form", "speed", "market", "pace", "moves", "jockey", "trainer", "draw", "field"]
"""The groups whose features read earlier results (the others are the race's own facts)."""
WIDENED = feature_sql().replace("AND 1 PRECEDING", "AND CURRENT ROW")
"""The feature query with every history window reaching into the current race day."""


@pytest.fixture(scope="module")
def world() -> Frames:
    # 40 days: enough starts per course and frame for the draw bias (≥ 30 over 3 years)
    return make_world(seed=5, n_days=40)


def features_by(frames: Frames, sql: str) -> pl.DataFrame:
    with warehouse_of(frames) as warehouse:
        return warehouse.query(sql, deterministic=True)


def day_of(world: Frames, n: int) -> dt.date:
    return sorted(world["races"]["race_date"].unique().to_list())[n]


def with_day_results_changed(world: Frames, day: dt.date) -> Frames:
    """Every result of `day`'s races changed runner by runner (order, times, last 3F, passing
    and the final odds reversed or shifted); nothing else."""
    on_day = pl.col("race_id").is_in(
        world["races"].filter(pl.col("race_date") == day)["race_id"].implode()
    )
    n = pl.col("horse_no")
    runners = world["runners"].with_columns(
        pl.when(on_day & pl.col("finish_pos").is_not_null())
        .then(pl.col("finish_pos").max().over("race_id") + 1 - pl.col("finish_pos"))
        .otherwise(pl.col("finish_pos"))
        .alias("finish_pos"),
        pl.when(on_day).then(pl.col("finish_time_s") + n * 0.3).otherwise(pl.col("finish_time_s")),
        pl.when(on_day).then(pl.col("last_3f_s") - n * 0.1).otherwise(pl.col("last_3f_s")),
        pl.when(on_day & pl.col("passing").is_not_null())
        .then(pl.format("{}-{}", n, n))
        .otherwise(pl.col("passing"))
        .alias("passing"),
        pl.when(on_day)
        .then(pl.col("win_odds_final").reverse().over("race_id"))
        .otherwise(pl.col("win_odds_final")),
    )
    return {**world, "runners": runners}


def moved(left: pl.DataFrame, right: pl.DataFrame, columns: tuple[str, ...]) -> set[str]:
    """The columns whose value (or missingness) differs for some runner."""
    both = left.join(right, on=KEYS, suffix="_r")
    assert both.height == left.height == right.height
    return {
        c
        for c in columns
        if both.select(
            ((pl.col(c) - pl.col(f"{c}_r")).abs() > 1e-9)
            | (pl.col(c).is_null() != pl.col(f"{c}_r").is_null())
        )
        .to_series()
        .any()
    }


def split(features: pl.DataFrame, day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    upto = pl.col("race_date") <= day
    return features.filter(upto), features.filter(~upto)


@pytest.fixture(scope="module")
def builds(world: Frames) -> dict[str, pl.DataFrame]:
    day = day_of(world, 30)
    altered = with_day_results_changed(world, day)
    return {
        "full": features_by(world, feature_sql()),
        "altered": features_by(altered, feature_sql()),
        "widened_full": features_by(world, WIDENED),
        "widened_altered": features_by(altered, WIDENED),
    }


@pytest.mark.parametrize("group", HISTORY_GROUPS)
def test_a_days_results_move_only_later_features_of_the_group(
    world: Frames, builds: dict[str, pl.DataFrame], group: str
) -> None:
    day = day_of(world, 30)
    before, after = split(builds["full"], day)
    altered_before, altered_after = split(builds["altered"], day)
    columns = FEATURE_GROUPS[group]
    assert moved(before, altered_before, columns) == set()
    assert moved(after, altered_after, columns)  # the group does read those results


@pytest.mark.parametrize("group", HISTORY_GROUPS)
def test_a_window_reaching_into_the_race_day_is_caught(
    world: Frames, builds: dict[str, pl.DataFrame], group: str
) -> None:
    day = day_of(world, 30)
    on_day = pl.col("race_date") == day
    widened = builds["widened_full"].filter(on_day)
    assert moved(widened, builds["widened_altered"].filter(on_day), FEATURE_GROUPS[group])


def test_the_past_market_measures_match_an_independent_computation(
    world: Frames, builds: dict[str, pl.DataFrame]
) -> None:
    starts = (
        world["runners"]
        .filter(~pl.col("status").is_in(["scratched", "excluded"]))
        .join(world["races"].select("race_id", "race_date"), on="race_id")
        .with_columns(
            p=(1 / pl.col("win_odds_final")) / (1 / pl.col("win_odds_final")).sum().over("race_id")
        )
        .with_columns(excess=(pl.col("finish_pos") == 1).cast(pl.Float64) - pl.col("p"))
    )
    past = (
        starts.join(starts, on="horse_id", suffix="_h")
        .filter((pl.col("race_date_h") < pl.col("race_date")) & pl.col("excess_h").is_not_null())
        .group_by(KEYS)
        .agg(ref=pl.col("excess_h").mean())
    )
    both = builds["full"].join(past, on=KEYS, how="inner")
    assert both.height > 1000
    diff = both.select((pl.col("horse_mkt_excess") - pl.col("ref")).abs().max()).item()
    assert diff < 1e-8
    debut = builds["full"].join(past, on=KEYS, how="anti")
    assert debut["horse_mkt_excess"].null_count() == debut.height

"""The `rating` group is point in time: a race day's results move none of its features of that
day or before and do move later days', and a passage that learns a day's results before reading
the day is caught. The ratings are checked against what they mean, too."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from feature_engineering.synthetic import make_world, warehouse_of
from feature_engineering.test_leakage import day_of, moved, split, with_day_results_changed
from keiba.feature_engineering import FEATURE_GROUPS
from keiba.feature_engineering import ratings as ratings_module
from keiba.feature_engineering.definitions import starts_sql
from keiba.feature_engineering.ratings import rating_features

Frames = dict[str, pl.DataFrame]
COLUMNS = FEATURE_GROUPS["rating"]


@pytest.fixture(scope="module")
def world() -> Frames:
    return make_world(seed=5, n_days=40)


def starts_of(frames: Frames) -> pl.DataFrame:
    with warehouse_of(frames) as warehouse:
        return warehouse.query(starts_sql())


def dated(features: pl.DataFrame, frames: Frames) -> pl.DataFrame:
    return features.join(frames["races"].select("race_id", "race_date"), on="race_id")


@pytest.fixture(scope="module")
def builds(world: Frames) -> dict[str, pl.DataFrame]:
    altered = with_day_results_changed(world, day_of(world, 30))
    full, changed = starts_of(world), starts_of(altered)
    return {
        "full": dated(rating_features(full), world),
        "altered": dated(rating_features(changed), world),
        "widened_full": dated(ratings_module._passage(full, learn_first=True), world),
        "widened_altered": dated(ratings_module._passage(changed, learn_first=True), world),
    }


def test_a_days_results_move_only_later_ratings(
    world: Frames, builds: dict[str, pl.DataFrame]
) -> None:
    day = day_of(world, 30)
    before, after = split(builds["full"], day)
    altered_before, altered_after = split(builds["altered"], day)
    assert moved(before, altered_before, COLUMNS) == set()
    assert moved(after, altered_after, COLUMNS) == set(COLUMNS) - {"rating_starts"}


def test_a_passage_reading_the_day_after_learning_it_is_caught(
    world: Frames, builds: dict[str, pl.DataFrame]
) -> None:
    on_day = pl.col("race_date") == day_of(world, 30)
    widened = builds["widened_full"].filter(on_day)
    assert moved(widened, builds["widened_altered"].filter(on_day), COLUMNS)


def test_every_starter_is_rated_once_and_the_field_probabilities_sum_to_one(
    world: Frames, builds: dict[str, pl.DataFrame]
) -> None:
    features = builds["full"]
    assert features.height == starts_of(world).height
    assert not features.select("race_id", "horse_no").is_duplicated().any()
    sums = features.group_by("race_id").agg(pl.col("rating_logp").exp().sum())
    assert sums["rating_logp"].to_numpy() == pytest.approx(1.0, abs=1e-6)


def test_a_winner_rises_and_the_beaten_fall() -> None:
    starts = pl.DataFrame(
        {
            "race_id": ["r1"] * 3 + ["r2"] * 3,
            "horse_no": [1, 2, 3, 1, 2, 3],
            "day_no": [0, 0, 0, 7, 7, 7],
            "horse_key": ["a", "b", "c", "a", "b", "c"],
            "jockey_key": ["x", "y", "z", "x", "y", "z"],
            "trainer_key": [None] * 6,
            "surface": ["turf"] * 3 + ["dirt"] * 3,
            "distance_m": [1600] * 6,
            "finish_pos": [1, 2, 3, None, None, None],
            "win_odds": [8.0, 2.0, 4.0, None, None, None],
        },
        schema_overrides={
            "trainer_key": pl.String,
            "finish_pos": pl.Int64,
            "win_odds": pl.Float64,
        },
    )
    second = rating_features(starts).filter(pl.col("race_id") == "r2").sort("horse_no")
    horse = second["rating_horse"].to_numpy()
    assert horse[0] > 0 > horse[2] and horse[0] > horse[1] > horse[2]
    assert np.all(second["rating_horse_sd"].to_numpy() < 1.0)
    assert second["rating_trainer"].null_count() == 3
    assert second["apt_surface"].null_count() == 3  # the horses never ran on dirt
    assert second["apt_distance"].to_numpy()[0] > 0
    assert second["rating_starts"].to_list() == [1.0, 1.0, 1.0]
    market = second["rating_market"].to_numpy()  # the public preferred b, then c, then a
    assert market[1] > 0 > market[0] and market[1] > market[2] > market[0]
    assert second["rating_market_logp"].exp().sum() == pytest.approx(1.0)


def test_the_passage_is_the_same_whatever_the_order_of_the_rows(world: Frames) -> None:
    starts = starts_of(world)
    shuffled = starts.sample(fraction=1.0, shuffle=True, seed=3)
    assert rating_features(starts).equals(rating_features(shuffled))


def test_days_are_independent_of_later_ones(world: Frames) -> None:
    starts = starts_of(world)
    cut = starts.filter(pl.col("day_no") <= starts["day_no"].unique().sort()[20])
    early = rating_features(cut)
    full = rating_features(starts).join(
        early.select("race_id", "horse_no"), on=["race_id", "horse_no"]
    )
    assert early.equals(full.sort("race_id", "horse_no"))

"""Predicting races from the warehouse with a trained model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from feature_engineering.synthetic import (
    RecordingWarehouse,
    assert_transpiles_to_bigquery,
    make_world,
    warehouse_of,
)
from keiba.common.config import ModelConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import DuckDBWarehouse
from keiba.feature_engineering import build_features
from keiba.model_training import TrainedModel, predict_proba, train_model, training_frame
from keiba.predictor import PREDICTION_COLUMNS, predict_races

Frames = dict[str, pl.DataFrame]
CONFIG = ModelConfig(num_boost_round=40, learning_rate=0.1, num_leaves=7, min_data_in_leaf=20)


@pytest.fixture(scope="module")
def world() -> Frames:
    return make_world(seed=9, n_days=24)


@pytest.fixture(scope="module")
def days(world: Frames) -> list[dt.date]:
    return sorted(world["races"]["race_date"].unique().to_list())


@pytest.fixture(scope="module")
def model(world: Frames, days: list[dt.date]) -> TrainedModel:
    warehouse = warehouse_of(world)
    build_features(warehouse)
    trained = train_model(training_frame(warehouse, None, days[15]), None, CONFIG)
    warehouse.close()
    return trained


@pytest.fixture
def warehouse(world: Frames) -> Iterator[DuckDBWarehouse]:
    warehouse = warehouse_of(world)
    build_features(warehouse)
    yield warehouse
    warehouse.close()


def test_predictions_cover_every_starter_and_sum_to_one(
    model: TrainedModel, warehouse: DuckDBWarehouse, world: Frames, days: list[dt.date]
) -> None:
    recording = RecordingWarehouse(warehouse)
    out = predict_races(model, recording, days[16], days[18])
    assert tuple(out.columns) == PREDICTION_COLUMNS
    assert out.schema["p_model"] == pl.Float64
    assert out.schema["as_of"] == pl.Datetime("us", "UTC")
    races = world["races"].filter(pl.col("race_date").is_between(days[16], days[18]))
    starters = world["runners"].filter(
        pl.col("race_id").is_in(races["race_id"].to_list()) & (pl.col("status") == "finished")
    )
    assert out.select("race_id", "horse_no").equals(
        starters.select("race_id", "horse_no").sort("race_id", "horse_no")
    )
    sums = out.group_by("race_id").agg(pl.col("p_model").sum())["p_model"].to_numpy()
    assert np.allclose(sums, 1.0)
    assert (out["model_version"] == model.version).all()
    assert (out["feature_version"] == model.feature_version).all()
    posts = out.join(races.select("race_id", "post_time"), on="race_id")
    assert (posts["as_of"] == posts["post_time"]).all()
    assert_transpiles_to_bigquery(recording.statements)


def test_predictions_equal_the_models_probabilities_on_the_training_frame(
    model: TrainedModel, warehouse: DuckDBWarehouse, days: list[dt.date]
) -> None:
    out = predict_races(model, warehouse, days[20], days[20])
    frame = training_frame(warehouse, days[20], days[20])
    assert np.allclose(out["p_model"].to_numpy(), predict_proba(model, frame))


def test_upcoming_races_without_results_can_be_predicted(
    model: TrainedModel, world: Frames, days: list[dt.date]
) -> None:
    """Entries of a day with no results, odds or payouts yet: predictions need only features."""
    upcoming = world["races"].filter(pl.col("race_date") == days[-1])["race_id"].to_list()
    runners = world["runners"].with_columns(
        pl.when(pl.col("race_id").is_in(upcoming)).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("finish_pos", "finish_time_s", "last_3f_s", "win_odds_final", "popularity")
    )
    frames = {
        **world,
        "runners": runners,
        "payouts": world["payouts"].filter(~pl.col("race_id").is_in(upcoming)),
        "odds": world["odds"].filter(~pl.col("race_id").is_in(upcoming)),
    }
    warehouse = warehouse_of(frames)
    out = predict_races(model, warehouse, days[-1], days[-1], rebuild_features=True)
    assert set(out["race_id"].unique().to_list()) == set(upcoming)
    with_results = warehouse_of(world)
    expected = predict_races(model, with_results, days[-1], days[-1], rebuild_features=True)
    assert np.allclose(out["p_model"].to_numpy(), expected["p_model"].to_numpy())


def test_missing_or_stale_features_are_an_error_unless_rebuilt(
    model: TrainedModel, world: Frames, days: list[dt.date]
) -> None:
    warehouse = warehouse_of(world)
    with pytest.raises(KeibaError, match="no features table"):
        predict_races(model, warehouse, days[20], days[21])
    build_features(warehouse)
    # A late scratch after the features were built: the race's features are out of date.
    race_id = world["races"].filter(pl.col("race_date") == days[21])["race_id"][0]
    runners = world["runners"].filter(pl.col("race_id") == race_id)
    scratched = runners.with_columns(
        pl.when(pl.col("horse_no") == 1)
        .then(pl.lit("scratched"))
        .otherwise(pl.col("status"))
        .alias("status"),
        pl.when(pl.col("horse_no") == 1)
        .then(None)
        .otherwise(pl.col("finish_pos"))
        .alias("finish_pos"),
    )
    warehouse.load({"runners": scratched})
    with pytest.raises(KeibaError, match="1 race"):
        predict_races(model, warehouse, days[20], days[21])
    out = predict_races(model, warehouse, days[20], days[21], rebuild_features=True)
    assert out.filter((pl.col("race_id") == race_id) & (pl.col("horse_no") == 1)).is_empty()
    assert np.isclose(out.filter(pl.col("race_id") == race_id)["p_model"].sum(), 1.0)


def test_a_model_of_another_feature_version_is_refused(
    model: TrainedModel, warehouse: DuckDBWarehouse, days: list[dt.date]
) -> None:
    with pytest.raises(KeibaError, match="version v0"):
        predict_races(replace(model, feature_version="v0"), warehouse, days[20], days[20])
    with pytest.raises(KeibaError, match="empty date range"):
        predict_races(model, warehouse, days[20], days[19])

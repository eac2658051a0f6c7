"""Predictions with the market stage, stored idempotently in table `predictions`."""

from __future__ import annotations

import numpy as np
import polars as pl

from feature_engineering.synthetic import make_world, warehouse_of
from keiba.common.config import ModelConfig
from keiba.feature_engineering import build_features
from keiba.model_training import train_model, training_frame
from keiba.model_training.combination import MarketCombination
from keiba.predictor import (
    STORED_PREDICTION_COLUMNS,
    predict_races,
    with_market_stage,
    write_predictions,
)


def test_predictions_are_written_once_per_race_and_version() -> None:
    warehouse = warehouse_of(make_world(seed=4, n_days=12))
    try:
        build_features(warehouse)
        days = sorted(warehouse.query("SELECT DISTINCT race_date FROM races")["race_date"])
        model = train_model(
            training_frame(warehouse, None, days[7]),
            None,
            ModelConfig(num_boost_round=10, num_leaves=7, min_data_in_leaf=20),
        )
        combination = MarketCombination(alpha=0.5, beta=0.5, races=1, log_loss=0.0)
        frame = with_market_stage(
            warehouse, predict_races(model, warehouse, days[8], days[11]), combination
        )
        assert frame.columns == list(STORED_PREDICTION_COLUMNS)
        sums = frame.group_by("race_id").agg(pl.col("p_combined").sum(), pl.col("p_market").sum())
        assert np.allclose(sums["p_combined"], 1.0)
        assert np.allclose(sums["p_market"].drop_nulls(), 1.0)

        assert write_predictions(warehouse, frame) == frame.height
        write_predictions(warehouse, frame)  # again: replaces, never duplicates
        stored = warehouse.query("SELECT * FROM predictions")
        assert stored.height == frame.height
        # A later run over part of the period replaces just those races.
        part = frame.filter(pl.col("race_id") == frame["race_id"][0]).with_columns(
            pl.lit(0.5).alias("p_model")
        )
        write_predictions(warehouse, part)
        stored = warehouse.query("SELECT * FROM predictions")
        assert stored.height == frame.height
        assert (
            stored.filter(pl.col("race_id") == frame["race_id"][0])["p_model"].to_list()
            == [0.5] * part.height
        )
        # Another version's rows sit beside them.
        write_predictions(warehouse, part.with_columns(pl.lit("fm-other").alias("model_version")))
        assert warehouse.query("SELECT * FROM predictions").height == frame.height + part.height
    finally:
        warehouse.close()

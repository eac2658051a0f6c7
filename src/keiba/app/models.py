"""The win-probability model from configuration: what `keiba model …` does once its options are
parsed.

Each function opens the selected dataset and the model store (`storage.object_store_url`)
itself, runs keiba.model_training, keiba.evaluator or keiba.predictor on them and returns the
JSON-ready result the command prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl

from keiba.common.config import KeibaConfig
from keiba.common.storage import FsspecObjectStore
from keiba.common.storage.datasets import open_dataset
from keiba.evaluator.evaluation import evaluate_frame
from keiba.model_training.exotic_fit import fit_and_record
from keiba.model_training.pipeline import (
    check_model_dataset,
    default_test_period,
    evaluate_version,
    load_stored_model,
    plan_periods,
    train_and_store,
)
from keiba.predictor import predict_races, with_market_stage, write_predictions

__all__ = ["evaluate_model", "fit_exotics", "predict", "train"]

Progress = Callable[[str, int, int], None]


def train(
    config: KeibaConfig,
    train_from: dt.date | None,
    train_to: dt.date | None,
    combine_from: dt.date | None,
    combine_to: dt.date | None,
    *,
    tracking_uri: str | None,
    progress: Progress,
) -> dict[str, Any]:
    """Train the fundamental model and the market stage on the periods (defaults: the race
    days split 50% / 25% / 25%), store both and log the MLflow run."""
    with open_dataset(config, must_exist=True) as warehouse:
        periods = plan_periods(warehouse, train_from, train_to, combine_from, combine_to)
        result = train_and_store(
            config,
            warehouse,
            FsspecObjectStore(config.object_store_url),
            periods,
            evaluate=evaluate_frame,
            tracking_uri=tracking_uri,
            progress=progress,
        )
        return result.to_dict()


def evaluate_model(
    config: KeibaConfig,
    model: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    *,
    resamples: int,
    tracking_uri: str | None,
) -> dict[str, Any]:
    """Score market, model and combination of a model version (default: the latest) on the
    same races (default: every race day after its combination period)."""
    stored = load_stored_model(FsspecObjectStore(config.object_store_url), model)
    with open_dataset(config, must_exist=True) as warehouse:
        start, end = date_from, date_to
        if start is None or end is None:
            first, last = default_test_period(warehouse, stored)
            start, end = start or first, end or last
        return evaluate_version(
            config,
            warehouse,
            stored,
            start,
            end,
            evaluate=evaluate_frame,
            tracking_uri=tracking_uri,
            resamples=resamples,
        )


def predict(
    config: KeibaConfig, model: str | None, date_from: dt.date | None, date_to: dt.date | None
) -> dict[str, Any]:
    """Write a model version's win probabilities to the table `predictions` (default period:
    every race day after its combination period); what was written."""
    stored = load_stored_model(FsspecObjectStore(config.object_store_url), model)
    with open_dataset(config, must_exist=True) as warehouse:
        check_model_dataset(stored, warehouse)
        start, end = date_from, date_to
        if start is None:
            start, last = default_test_period(warehouse, stored)
            end = end or last
        end = end or start
        frame = predict_races(stored.model, warehouse, start, end, rebuild_features=True)
        frame = with_market_stage(warehouse, frame, stored.combination)
        rows = write_predictions(warehouse, frame)
        return {
            "model_version": stored.model.version,
            "feature_version": stored.model.feature_version,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "races": frame["race_id"].n_unique(),
            "unpriced_races": frame.filter(pl.col("p_model").is_null())["race_id"].n_unique(),
            "rows": rows,
            "table": "predictions",
        }


def fit_exotics(config: KeibaConfig) -> dict[str, Any]:
    """Fit discounted Harville's γ and δ on the dataset's finishing orders and record them."""
    with open_dataset(config, read_only=True) as warehouse:
        return fit_and_record(warehouse, FsspecObjectStore(config.object_store_url))

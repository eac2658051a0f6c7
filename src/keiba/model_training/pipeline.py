"""`keiba model train` and `keiba model evaluate`: periods, the two stages, storage and tracking.

Training splits race days by date: the fundamental model trains on [train_from, train_to]
(early stopping on the latest 15% of those days), the market stage (Benter's combination) is
fitted on [combine_from, combine_to], which the fundamental model never saw, and the test
period starts after combine_to. Without explicit dates the warehouse's race days are split
50% / 25% / 25% (on the 2018 sample: January–June, July–September, October–December).

Both stages are stored in the object store under `models/<version>/` (model.txt and meta.json
from `save_model`, plus combination.json and training.json here), `models/latest.json` names
the newest, and every run is logged to MLflow.

A model records the dataset (name and kind) it was trained on, in training.json, meta.json and
its MLflow run; evaluating or predicting on a dataset of the other kind (real against
simulated) is refused by `check_model_dataset`.

Scoring a period against the market is the evaluator's: `train_and_store` and
`evaluate_version` take it as `evaluate` (`keiba.evaluator.evaluation.evaluate_frame`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import polars as pl

from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError, StorageError
from keiba.common.schema import DATASET_KINDS
from keiba.common.storage.object_store import ObjectStore
from keiba.common.storage.warehouse import Warehouse
from keiba.feature_engineering import build_features
from keiba.market.fields import incomplete_races, market_frame
from keiba.model_training.artifacts import load_model, model_prefix, save_model
from keiba.model_training.combination import MarketCombination, fit_combination
from keiba.model_training.model import TrainedModel, train_model, training_frame
from keiba.model_training.starters import model_probabilities
from keiba.model_training.tracking import TrackedRun, log_run, tracking_of

__all__ = [
    "LATEST_KEY",
    "Evaluate",
    "PeriodEvaluation",
    "StoredModel",
    "TrainingPeriods",
    "TrainingResult",
    "check_model_dataset",
    "dataset_record",
    "default_test_period",
    "evaluate_version",
    "latest_version",
    "load_stored_model",
    "plan_periods",
    "scored_frame",
    "train_and_store",
]

Progress = Callable[[str, int, int], None]
LATEST_KEY = "models/latest.json"
TRAIN_SHARE = 0.5
COMBINE_SHARE = 0.25
VALID_FRACTION = 0.15
_DAY = dt.timedelta(days=1)


class PeriodEvaluation(Protocol):
    """A period scored against the market, as training and evaluation record it."""

    caveats: list[str]

    def to_dict(self) -> dict[str, Any]: ...

    def metrics(self, prefix: str = "") -> dict[str, float]: ...

    def figure(self) -> Any: ...


class Evaluate(Protocol):
    """Scores a frame of `scored_frame` (with p_combined) against the market."""

    def __call__(
        self, frame: pl.DataFrame, *, resamples: int = ..., seed: int = ...
    ) -> PeriodEvaluation: ...


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class TrainingPeriods:
    train_from: dt.date
    train_to: dt.date
    valid_from: dt.date
    combine_from: dt.date
    combine_to: dt.date

    def to_dict(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> TrainingPeriods:
        return cls(**{k: dt.date.fromisoformat(data[k]) for k in cls.__dataclass_fields__})


def _race_days(warehouse: Warehouse) -> list[dt.date]:
    if not warehouse.has_table("races"):
        return []
    days = warehouse.query("SELECT DISTINCT race_date FROM races ORDER BY race_date")
    return list(days["race_date"])


def plan_periods(
    warehouse: Warehouse,
    train_from: dt.date | None = None,
    train_to: dt.date | None = None,
    combine_from: dt.date | None = None,
    combine_to: dt.date | None = None,
) -> TrainingPeriods:
    """Fill unspecified bounds from the 50/25/25 split of race days; check the order."""
    days = _race_days(warehouse)
    if len(days) < 8:
        raise KeibaError(
            f"the warehouse holds {len(days)} race days; training needs at least 8 "
            "(import data first: keiba data import …)"
        )
    n_train = max(2, round(len(days) * TRAIN_SHARE))
    n_combine = max(1, round(len(days) * COMBINE_SHARE))
    train_from = train_from or days[0]
    train_to = train_to or days[n_train - 1]
    combine_from = combine_from or next((d for d in days if d > train_to), train_to + _DAY)
    combine_to = combine_to or days[min(len(days), n_train + n_combine) - 1]
    if not train_from <= train_to < combine_from <= combine_to:
        raise KeibaError(
            "periods must be ordered train_from ≤ train_to < combine_from ≤ combine_to, were "
            f"{train_from}, {train_to}, {combine_from}, {combine_to}"
        )
    train_days = [d for d in days if train_from <= d <= train_to]
    if len(train_days) < 2:
        raise KeibaError(f"the training period {train_from} to {train_to} has < 2 race days")
    n_valid = max(1, round(len(train_days) * VALID_FRACTION))
    valid_from = train_days[len(train_days) - n_valid]
    return TrainingPeriods(train_from, train_to, valid_from, combine_from, combine_to)


def scored_frame(
    warehouse: Warehouse,
    model: TrainedModel,
    combination: MarketCombination | None,
    date_from: dt.date,
    date_to: dt.date,
) -> pl.DataFrame:
    """Starters of complete races in the period with won, p_market, p_model (null without
    features) and, with a combination, p_combined."""
    frame = model_probabilities(model, warehouse, market_frame(warehouse, date_from, date_to)).frame
    if combination is not None:
        frame = frame.with_columns(combination.apply(frame))
    return frame


@dataclass
class StoredModel:
    """A model version as stored: both stages and how they were trained."""

    model: TrainedModel
    combination: MarketCombination
    periods: TrainingPeriods
    training: dict[str, Any]

    @property
    def dataset(self) -> dict[str, Any] | None:
        """The dataset it was trained on ({"name", "kind"}); None for a model from before."""
        found = self.training.get("dataset")
        return found if isinstance(found, dict) else None


def dataset_record(warehouse: Warehouse) -> dict[str, str | None]:
    """The warehouse's dataset as models and runs record it: its name and kind."""
    return {"name": warehouse.dataset, "kind": warehouse.kind()}


def check_model_dataset(stored: StoredModel, warehouse: Warehouse) -> None:
    """Refuse (KeibaError) a model trained on races of another kind than the warehouse's."""
    version = stored.model.version
    trained = stored.dataset
    if trained is None or trained.get("kind") not in DATASET_KINDS:
        raise KeibaError(
            f"model {version} does not record whether it was trained on real or simulated "
            f"races: train a model on the dataset {warehouse.dataset!r} (keiba model train)"
        )
    here = warehouse.kind()
    if here is not None and here != trained["kind"]:
        raise KeibaError(
            f"model {version} was trained on {trained['kind']} races (dataset "
            f"{trained.get('name')!r}) and the dataset {warehouse.dataset!r} holds {here} "
            "races: train a model on this dataset"
        )


@dataclass
class TrainingResult:
    stored: StoredModel
    combine_evaluation: dict[str, Any]
    run: TrackedRun

    def to_dict(self) -> dict[str, Any]:
        model = self.stored.model
        return {
            "model_version": model.version,
            "feature_version": model.feature_version,
            "offset": model.offset,
            "dataset": self.stored.dataset,
            "periods": self.stored.periods.to_dict(),
            "best_iteration": model.best_iteration,
            "model_metrics": model.metrics,
            "combination": asdict(self.stored.combination),
            "combine_period_evaluation": self.combine_evaluation,
            "mlflow": asdict(self.run),
            "stored_at": model_prefix(model.version),
        }


def _put_json(store: ObjectStore, key: str, data: Any) -> None:
    store.put(key, json.dumps(data, indent=2, sort_keys=True, default=str).encode())


def latest_version(store: ObjectStore) -> str:
    """The most recently trained version (from `models/latest.json`)."""
    try:
        return str(json.loads(store.get(LATEST_KEY))["version"])
    except StorageError as e:
        raise KeibaError("no model has been trained yet: run keiba model train") from e


def load_stored_model(store: ObjectStore, version: str | None = None) -> StoredModel:
    """Load a version (default: the latest) with its combination and training record."""
    version = version or latest_version(store)
    model = load_model(store, version)
    prefix = model_prefix(version)
    try:
        combination = MarketCombination(**json.loads(store.get(f"{prefix}/combination.json")))
        training = json.loads(store.get(f"{prefix}/training.json"))
    except StorageError as e:
        raise KeibaError(f"model {version} has no market stage stored (train it again)") from e
    return StoredModel(model, combination, TrainingPeriods.from_dict(training["periods"]), training)


def _params(config: KeibaConfig, model: TrainedModel, periods: TrainingPeriods) -> dict[str, Any]:
    return {
        **{f"lgb_{k}": v for k, v in config.model.model_dump().items() if k not in _NOT_PARAMS},
        "feature_version": model.feature_version,
        "feature_count": len(model.feature_names),
        "objective": model.objective,
        "offset": model.offset or "none",
        **periods.to_dict(),
    }


_NOT_PARAMS = {"tracking_uri", "experiment"}


def _dataset_params(dataset: dict[str, str | None]) -> dict[str, str]:
    return {"dataset": str(dataset["name"]), "dataset_kind": str(dataset["kind"])}


def _dataset_tags(dataset: dict[str, str | None]) -> dict[str, str]:
    return {"keiba.dataset": str(dataset["name"]), "keiba.dataset_kind": str(dataset["kind"])}


def train_and_store(
    config: KeibaConfig,
    warehouse: Warehouse,
    store: ObjectStore,
    periods: TrainingPeriods,
    *,
    evaluate: Evaluate,
    tracking_uri: str | None = None,
    progress: Progress = _noop,
    rebuild_features: bool = True,
) -> TrainingResult:
    """Train both stages, store them, log the run to MLflow; return what was done."""
    if rebuild_features or not warehouse.has_table("features"):
        progress("features", 0, 1)
        build_features(warehouse)
        progress("features", 1, 1)
    progress("training", 0, 3)
    train = training_frame(warehouse, periods.train_from, periods.valid_from - _DAY)
    valid = training_frame(warehouse, periods.valid_from, periods.train_to)
    if train.is_empty():
        raise KeibaError(f"no training races between {periods.train_from} and {periods.train_to}")
    model = train_model(train, valid if not valid.is_empty() else None, config.model)
    progress("training", 1, 3)
    frame = scored_frame(warehouse, model, None, periods.combine_from, periods.combine_to)
    combination = fit_combination(frame)
    frame = frame.with_columns(combination.apply(frame))
    evaluation = evaluate(frame, resamples=200, seed=0)
    progress("training", 2, 3)

    dataset = dataset_record(warehouse)
    training = {
        "dataset": dataset,
        "periods": periods.to_dict(),
        "combination_fitted_on": [periods.combine_from.isoformat(), periods.combine_to.isoformat()],
        "train_rows": train.height,
        "valid_rows": valid.height,
        "offset": model.offset,
    }
    tracking = tracking_of(
        config.home, tracking_uri or config.model.tracking_uri, config.model.experiment
    )
    run = log_run(
        tracking,
        run_name=f"train {model.version}",
        params=_params(config, model, periods)
        | {"alpha": combination.alpha, "beta": combination.beta}
        | _dataset_params(dataset),
        metrics={
            **model.metrics,
            "combination_alpha": combination.alpha,
            "combination_beta": combination.beta,
            "combination_log_loss": combination.log_loss,
            **evaluation.metrics("combine_"),
        },
        tags={"keiba.kind": "train", "keiba.model_version": model.version} | _dataset_tags(dataset),
        dicts={
            "combine_evaluation.json": evaluation.to_dict(),
            "combination.json": asdict(combination),
            "training.json": training,
        },
        figures={"combine_calibration.png": evaluation.figure()},
        model=model,
    )
    training["mlflow_run_id"] = run.run_id
    training["tracking_uri"] = run.tracking_uri
    prefix = save_model(model, store, dataset=dataset)
    _put_json(store, f"{prefix}/combination.json", asdict(combination))
    _put_json(store, f"{prefix}/training.json", training)
    _put_json(store, LATEST_KEY, {"version": model.version, "dataset": dataset})
    progress("training", 3, 3)
    return TrainingResult(
        StoredModel(model, combination, periods, training), evaluation.to_dict(), run
    )


def default_test_period(warehouse: Warehouse, stored: StoredModel) -> tuple[dt.date, dt.date]:
    """From the day after the combination period to the last race day in the warehouse."""
    days = _race_days(warehouse)
    after = [d for d in days if d > stored.periods.combine_to]
    if not after:
        raise KeibaError(
            f"no race day after {stored.periods.combine_to} (the end of the model's combination "
            "period): give --from and --to"
        )
    return after[0], after[-1]


def evaluate_version(
    config: KeibaConfig,
    warehouse: Warehouse,
    stored: StoredModel,
    date_from: dt.date,
    date_to: dt.date,
    *,
    evaluate: Evaluate,
    tracking_uri: str | None = None,
    resamples: int = 1000,
    track: bool = True,
) -> dict[str, Any]:
    """Score market, model and combination on the test period; log the run to MLflow.

    A model trained on races of another kind than the warehouse's is refused."""
    check_model_dataset(stored, warehouse)
    dataset = dataset_record(warehouse)
    if date_to < date_from:
        raise KeibaError(f"empty date range: {date_from} to {date_to}")
    if date_from <= stored.periods.combine_to:
        raise KeibaError(
            f"the test period must start after the model's combination period "
            f"(ends {stored.periods.combine_to}); {date_from} would score races it was fitted on"
        )
    frame = scored_frame(warehouse, stored.model, stored.combination, date_from, date_to)
    evaluation = evaluate(frame, resamples=resamples, seed=config.model.seed)
    skipped = incomplete_races(warehouse, date_from, date_to)
    if skipped:
        evaluation.caveats.append(
            f"{skipped} races lack rows for some declared runners (non-finishers missing from "
            "the source): they are not scored, since the market over the known finishers "
            "would use the result."
        )
    result = {
        "model_version": stored.model.version,
        "feature_version": stored.model.feature_version,
        "dataset": dataset,
        "trained_on": stored.dataset,
        "test_period": [date_from.isoformat(), date_to.isoformat()],
        "training_periods": stored.periods.to_dict(),
        "combination": asdict(stored.combination),
        **evaluation.to_dict(),
    }
    if track:
        tracking = tracking_of(
            config.home, tracking_uri or config.model.tracking_uri, config.model.experiment
        )
        run = log_run(
            tracking,
            run_name=f"evaluate {stored.model.version} {date_from}..{date_to}",
            params={
                "model_version": stored.model.version,
                "feature_version": stored.model.feature_version,
                "test_from": date_from.isoformat(),
                "test_to": date_to.isoformat(),
                "resamples": resamples,
                **stored.periods.to_dict(),
                **_dataset_params(dataset),
            },
            metrics=evaluation.metrics("test_"),
            tags={
                "keiba.kind": "evaluate",
                "keiba.model_version": stored.model.version,
                "keiba.training_run": str(stored.training.get("mlflow_run_id", "")),
            }
            | _dataset_tags(dataset),
            dicts={"evaluation.json": result},
            figures={"calibration.png": evaluation.figure()},
        )
        result["mlflow"] = asdict(run)
    return result

"""`keiba model tune`: LightGBM's hyperparameters searched on walk-forward folds with Optuna.

Each trial trains the walk-forward of `keiba model walk-forward` over the given years (each
year's model trained only on the years before it) with the trial's parameters, and scores it by
the pooled out-of-time winner log-loss of the fundamental model's probabilities (`p_model`; not
of the combination, whose market stage dilutes what the parameters change). The sampler is
Optuna's TPE with a fixed seed and one trial at a time, and training is deterministic, so the
same data, years, trials and seed give the same trials and the same best parameters.

MLflow: one parent run (the search) and one nested run per trial (its parameters, the pooled
log-loss and pseudo-R² of the model and of the combination); the parent gets the best trial's
parameters and score at the end. The best parameters can be merged into a YAML configuration
file's `model:` section (`write`), where `keiba model train` reads them.

Choose tuning years before the years you report: parameters chosen on a year make that year's
scores flattering.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from keiba.common.config import BacktestConfig, KeibaConfig, ModelConfig
from keiba.common.errors import ConfigError
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.warehouse import Warehouse
from keiba.evaluator.evaluation import Evaluation
from keiba.evaluator.yearly import walk_forward_years
from keiba.feature_engineering import FEATURE_VERSION, build_features
from keiba.model_training.pipeline import dataset_record
from keiba.model_training.tracking import Tracking, add_to_run, log_run, tracking_of

__all__ = ["SEARCH_SPACE", "search", "tune_model", "write_model_params"]

SEARCH_SPACE: dict[str, tuple[str, float, float]] = {
    "learning_rate": ("log", 0.02, 0.2),
    "num_leaves": ("int_log", 7, 127),
    "min_data_in_leaf": ("int_log", 20, 500),
    "feature_fraction": ("uniform", 0.5, 1.0),
    "lambda_l2": ("log", 0.01, 30.0),
}
"""Each parameter's scale and bounds (inclusive); every other `model.*` setting is kept."""
_RESAMPLES = 10
"""The walk-forward's bootstrap resamples per trial: the intervals are not used here."""


def _suggest(trial: Any, space: Mapping[str, tuple[str, float, float]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, (scale, low, high) in space.items():
        if scale == "int_log":
            params[name] = trial.suggest_int(name, int(low), int(high), log=True)
        else:
            params[name] = trial.suggest_float(name, low, high, log=scale == "log")
    return params


def tune_model(
    config: KeibaConfig,
    years: Sequence[int],
    *,
    trials: int,
    seed: int = 0,
    tracking_uri: str | None = None,
    progress: Callable[[str, int, int], None] = lambda _s, _d, _t: None,
) -> dict[str, Any]:
    """Search the hyperparameters on the walk-forward over `years` of the configured dataset
    (features built first); see `search`."""
    tracking = tracking_of(
        config.home, tracking_uri or config.model.tracking_uri, config.model.experiment
    )
    with open_dataset(config, must_exist=True) as warehouse:
        build_features(warehouse)
        return search(
            warehouse,
            years,
            config.model,
            config.backtest,
            tracking,
            trials=trials,
            seed=seed,
            progress=progress,
        )


def search(
    warehouse: Warehouse,
    years: Sequence[int],
    model: ModelConfig,
    backtest: BacktestConfig,
    tracking: Tracking,
    *,
    trials: int,
    seed: int = 0,
    space: Mapping[str, tuple[str, float, float]] = SEARCH_SPACE,
    progress: Callable[[str, int, int], None] = lambda _s, _d, _t: None,
) -> dict[str, Any]:
    """`trials` Optuna trials over `space` (features must be built), each scored by the
    walk-forward over `years`; the trials and the best (`best`: trial number, parameters,
    scores), with the MLflow parent run."""
    import optuna

    if trials < 1:
        raise ConfigError(f"trials must be at least 1, was {trials}")
    optuna.logging.set_verbosity(logging.WARNING)
    ordered = sorted(set(years))
    dataset = dataset_record(warehouse)
    parent = log_run(
        tracking,
        run_name=f"tune {ordered[0]}..{ordered[-1]}",
        params=_search_params(ordered, trials, seed, dataset, model) | {"search_space": space},
        metrics={},
        tags={"keiba.kind": "tune", "keiba.dataset": str(dataset["name"])},
    )
    done: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        progress("trials", trial.number, trials)
        params = _suggest(trial, space)
        result = walk_forward_years(
            warehouse, ordered, model.model_copy(update=params), backtest, resamples=_RESAMPLES
        )
        scores = _scores(result.pooled)
        _log_trial(tracking, parent.run_id, trial.number, params, scores)
        done.append({"trial": trial.number, "params": params, "scores": scores})
        return scores["model_log_loss"]

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, n_jobs=1)
    progress("trials", trials, trials)
    best = done[study.best_trial.number]
    add_to_run(
        tracking,
        parent.run_id,
        params={f"best_{k}": v for k, v in best["params"].items()},
        metrics={f"best_{k}": v for k, v in best["scores"].items()},
        dicts={"tune.json": {"trials": done, "best": best}},
    )
    return {
        "dataset": dataset,
        "feature_version": FEATURE_VERSION,
        "years": ordered,
        "objective": "pooled out-of-time winner log-loss of p_model",
        "trials": done,
        "best": best,
        "mlflow": asdict(parent),
    }


def _scores(pooled: Evaluation) -> dict[str, float]:
    scores = pooled.scores
    return {
        "races": float(pooled.races),
        "model_log_loss": scores["p_model"].log_loss,
        "model_pseudo_r2": scores["p_model"].pseudo_r2,
        "combined_log_loss": scores["p_combined"].log_loss,
        "combined_pseudo_r2": scores["p_combined"].pseudo_r2,
    }


def _search_params(
    years: list[int], trials: int, seed: int, dataset: dict[str, Any], model: ModelConfig
) -> dict[str, Any]:
    return {
        "years": ",".join(str(y) for y in years),
        "trials": trials,
        "seed": seed,
        "sampler": "TPE",
        "objective": "pooled p_model log-loss",
        "feature_version": FEATURE_VERSION,
        "dataset": str(dataset["name"]),
        "search_space": SEARCH_SPACE,
        **{f"model_{k}": v for k, v in model.model_dump().items() if k not in SEARCH_SPACE},
    }


def _log_trial(
    tracking: Tracking, parent: str, number: int, params: dict[str, Any], scores: dict[str, float]
) -> None:
    log_run(
        tracking,
        run_name=f"trial {number}",
        params={"trial": number, **params},
        metrics=scores,
        tags={"keiba.kind": "tune-trial", "mlflow.parentRunId": parent},
    )


def write_model_params(path: Path, params: dict[str, Any]) -> None:
    """Merge `params` into the `model:` section of the YAML file at `path` (created if absent).
    The file is edited round trip: every other key, the comments and the order stay as they
    were. It is replaced at once (a new file renamed over it), never left half-written."""
    document = YAML()  # round trip
    data: Any = CommentedMap()
    if path.exists():
        try:
            loaded = document.load(path.read_text(encoding="utf-8"))
        except (OSError, YAMLError) as e:
            raise ConfigError(f"cannot read {path}: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path} does not hold a mapping of configuration sections")
        data = CommentedMap() if loaded is None else loaded
    section = data.get("model")
    if section is None:
        data["model"] = section = CommentedMap()
    if not isinstance(section, dict):
        raise ConfigError(f"the model section of {path} is not a mapping")
    section.update(params)
    text = io.StringIO()
    document.dump(data, text)
    _replace(path, text.getvalue())


def _replace(path: Path, text: str) -> None:
    """Write `text` to a new file beside `path` (with its permissions) and rename it over."""
    written: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as new:
            written = new.name
            new.write(text)
        if path.exists():
            os.chmod(written, stat.S_IMODE(path.stat().st_mode))
        os.replace(written, path)
    except OSError as e:
        if written is not None:
            Path(written).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {e}") from e

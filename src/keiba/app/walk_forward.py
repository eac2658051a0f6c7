"""`keiba model walk-forward`: the model against the market, year by year, out of time.

Builds the dataset's features, runs `keiba.evaluator.yearly.walk_forward_years` over the test
years (and, for each feature group in `without`, again without it) and logs one MLflow run
with every year's and the pooled metrics and the whole result as `walk_forward_years.json`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from keiba.common.config import KeibaConfig
from keiba.common.storage.datasets import open_dataset
from keiba.evaluator.yearly import walk_forward_years
from keiba.feature_engineering import FEATURE_VERSION, build_features
from keiba.model_training.pipeline import dataset_record
from keiba.model_training.tracking import log_run, tracking_of

__all__ = ["run_walk_forward_years"]


def run_walk_forward_years(
    config: KeibaConfig,
    years: Sequence[int],
    *,
    without: Sequence[str] = (),
    tracking_uri: str | None = None,
    resamples: int = 1000,
    stage: str = "plain",
    offset: str | None = None,
    market_feature: bool = False,
    progress: Callable[[str, int, int], None] = lambda _s, _d, _t: None,
) -> dict[str, Any]:
    """The yearly walk-forward of the selected dataset with the market stage `stage`, logged to
    MLflow; its result as a dict (`rows`: one per year and the pooled one, with a richer stage
    also the plain one's scores and the paired ΔR² against it; with an `offset` or
    `market_feature`, the plain model's scores and the paired ΔR² against it; `ablations`: one
    per group left out; `years`, `pooled`: the full evaluations)."""
    with open_dataset(config, must_exist=True) as warehouse:
        progress("features", 0, 1)
        build_features(warehouse)
        progress("features", 1, 1)
        result = walk_forward_years(
            warehouse,
            years,
            config.model,
            config.backtest,
            without=without,
            resamples=resamples,
            stage=stage,
            offset=offset,
            market_feature=market_feature,
            progress=progress,
        )
        dataset = dataset_record(warehouse)
    tracking = tracking_of(
        config.home, tracking_uri or config.model.tracking_uri, config.model.experiment
    )
    ordered = sorted(set(years))
    out = {"dataset": dataset, "feature_version": FEATURE_VERSION, **result.to_dict()}
    run = log_run(
        tracking,
        run_name=f"walk-forward {ordered[0]}..{ordered[-1]}",
        params={
            "years": ",".join(str(y) for y in ordered),
            "feature_version": FEATURE_VERSION,
            "resamples": resamples,
            "stage": stage,
            "offset": offset or "none",
            "market_feature": market_feature,
            "without": ",".join(dict.fromkeys(without)),
            "dataset": str(dataset["name"]),
            "dataset_kind": str(dataset["kind"]),
            **{f"model_{k}": v for k, v in config.model.model_dump().items()},
        },
        metrics=result.metrics(),
        tags={"keiba.kind": "walk-forward-years", "keiba.dataset": str(dataset["name"])},
        dicts={"walk_forward_years.json": out},
    )
    return out | {"mlflow": asdict(run)}

"""`keiba data learnable-floor`: a simulated world's floors, learnable included, on its test races.

Generates the world the demo would (`demo.years`, `demo.seed`, `demo.start_year` unless given),
runs the learnable floor over it (`keiba.simulator.learnable_world`) and scores every floor on
the races of the demo's test period (the last `demo.test_fraction` of race days) or from a
given day (`keiba.evaluator.floors`). Given a stored model and the dataset holding the same
world (the demo's: `demo-simulated`), the model is scored beside the floors on the same races.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import FsspecObjectStore
from keiba.common.storage.datasets import open_dataset
from keiba.evaluator.floors import first_test_day, floors_frame, score_floors, starters_of
from keiba.feature_engineering.build import read_features
from keiba.market.fields import market_frame
from keiba.model_training import load_model, predict_proba
from keiba.model_training.model import uses_market
from keiba.simulator import WorldConfig
from keiba.simulator.learnable import CHOICE_SHARPNESS
from keiba.simulator.learnable_world import learnable_world

__all__ = ["CHOICE_SHARPNESS", "learnable_floor"]


def learnable_floor(
    config: KeibaConfig,
    years: int | None,
    seed: int | None,
    first_day: dt.date | None,
    progress: Callable[[str, int, int], None],
    model_version: str | None = None,
    choice_sharpness: float = CHOICE_SHARPNESS,
) -> dict[str, Any]:
    """Every floor's winner log-loss on the test races, overall and by group; and the cost."""
    demo = config.demo
    world = WorldConfig(
        years=years if years is not None else demo.years,
        seed=seed if seed is not None else demo.seed,
        start_year=demo.start_year,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    learnable = learnable_world(
        world, lambda done, total: progress("race days", done, total), choice_sharpness
    )
    seconds = time.perf_counter() - wall
    cpu_seconds = time.process_time() - cpu
    days = sorted(set(learnable.world.races["race_date"].to_list()))
    first = first_day if first_day is not None else first_test_day(days, demo.test_fraction)
    model = None
    if model_version is not None:
        starters = starters_of(learnable, first, days[-1])
        model = _model_probabilities(config, model_version, starters, (first, days[-1]))
    return {
        "world": {"years": world.years, "seed": world.seed, "start_year": world.start_year},
        "test_period": [first.isoformat(), days[-1].isoformat()],
        "model": model_version,
        "jockey_choices": choice_sharpness,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "groups": score_floors(floors_frame(learnable, first, days[-1], model)),
    }


def _model_probabilities(
    config: KeibaConfig, version: str, starters: pl.DataFrame, period: tuple[dt.date, dt.date]
) -> pl.DataFrame:
    """A stored model's win probabilities for `starters` (race_id, horse_no, races dated in
    `period`), from the selected dataset's features."""
    model = load_model(FsspecObjectStore(config.object_store_url), version)
    with open_dataset(config, must_exist=True, read_only=True) as warehouse:
        features = read_features(warehouse, *period, feature_version=model.feature_version)
        market = market_frame(warehouse, *period) if uses_market(model) else None
    features = (
        features.with_columns(pl.col("horse_no").cast(pl.Int64))
        .join(starters, on=["race_id", "horse_no"], how="semi")
        .sort("race_id", "horse_no")
    )
    if market is not None:  # a model boosted from the market: the races' final odds
        features = features.join(
            market.select("race_id", "horse_no", "p_market"),
            on=["race_id", "horse_no"],
            how="left",
            maintain_order="left",
        )
    races = starters["race_id"].n_unique()
    if features["race_id"].n_unique() < races:
        raise KeibaError(
            f"the dataset {config.storage.dataset} lacks features for some of the world's "
            "test races: it must hold the same world with its features built"
        )
    return features.select("race_id", "horse_no").with_columns(
        pl.Series("p_model", predict_proba(model, features))
    )

"""Training the per-race softmax model, predicting with it, and its artefacts."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

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
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
from keiba.feature_engineering import FEATURE_COLUMNS, FEATURE_VERSION, build_features
from keiba.model_training import (
    TrainedModel,
    load_model,
    predict_proba,
    save_model,
    train_model,
    training_frame,
    winner_log_loss,
)

CONFIG = ModelConfig(
    num_boost_round=150,
    learning_rate=0.1,
    num_leaves=15,
    min_data_in_leaf=20,
    early_stopping_rounds=20,
    seed=1,
)


def uniform_loss(frame: pl.DataFrame) -> float:
    p = 1.0 / frame.select(pl.len().over("race_id")).to_series().to_numpy()
    return winner_log_loss(p, frame)


def direct_frame(n_races: int, seed: int) -> pl.DataFrame:
    """Races where feature `x` drives the win probability (softmax of 1.5·x); `z` is noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(6, 15, n_races)
    race = np.repeat(np.arange(n_races), sizes)
    x = rng.normal(0, 1, len(race))
    z = rng.normal(0, 1, len(race))
    gumbel = 1.5 * x + rng.gumbel(size=len(race))
    frame = pl.DataFrame({"race": race, "x": x, "z": z, "g": gumbel})
    return frame.with_columns(
        race_id=pl.format("r{}", pl.col("race").cast(pl.String).str.zfill(5)),
        race_date=pl.lit(dt.date(2020, 1, 1)) + pl.duration(days=pl.col("race") // 12),
        won=(pl.col("g") == pl.col("g").max().over("race")).cast(pl.Float64),
        finish_pos=pl.col("g").rank(method="ordinal", descending=True).over("race"),
    ).drop("g", "race")


@pytest.fixture(scope="module")
def world_warehouse() -> Iterator[DuckDBWarehouse]:
    world = make_world(seed=5, n_days=44, ability_scale=1.2)
    runners = world["runners"]
    race_ids = world["races"]["race_id"].to_list()
    dead_heat, no_result = race_ids[-30], race_ids[-20]
    runners = runners.with_columns(
        pl.when((pl.col("race_id") == dead_heat) & (pl.col("finish_pos") == 2))
        .then(1)
        .otherwise(pl.col("finish_pos"))
        .alias("finish_pos"),
    ).with_columns(
        pl.when(pl.col("race_id") == no_result)
        .then(None)
        .otherwise(pl.col("finish_pos"))
        .alias("finish_pos")
    )
    warehouse = warehouse_of({**world, "runners": runners})
    build_features(warehouse)
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="module")
def split(world_warehouse: DuckDBWarehouse) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    days = sorted(training_frame(world_warehouse, None, None)["race_date"].unique().to_list())
    train = training_frame(world_warehouse, None, days[27])
    valid = training_frame(world_warehouse, days[28], days[33])
    test = training_frame(world_warehouse, days[34], None)
    return train, valid, test


@pytest.fixture(scope="module")
def model(split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> TrainedModel:
    train, valid, _ = split
    return train_model(train, valid, CONFIG)


def test_training_frame_labels_starters_with_dead_heats_split(
    world_warehouse: DuckDBWarehouse,
) -> None:
    frame = training_frame(world_warehouse, None, None)
    assert frame.columns[:5] == ["race_id", "horse_no", "race_date", "feature_version", "as_of"]
    assert frame.columns[5:] == [
        *FEATURE_COLUMNS,
        "won",
        "finish_pos",
        "win_odds_final",
        "complete_field",
    ]
    assert frame.select("race_id", "horse_no").equals(
        frame.sort("race_id", "horse_no").select("race_id", "horse_no")
    )
    sums = frame.group_by("race_id").agg(pl.col("won").sum())["won"]
    assert np.allclose(sums.to_numpy(), 1.0)
    assert sorted(frame["won"].unique().to_list()) == [0.0, 0.5, 1.0]
    races = world_warehouse.query("SELECT race_id FROM races ORDER BY race_id")["race_id"]
    assert frame["race_id"].n_unique() == races.len() - 1  # the race without a result
    starters = world_warehouse.query(
        "SELECT count(*) AS n FROM runners WHERE status NOT IN ('scratched', 'excluded')"
    )["n"][0]
    assert frame.filter(pl.col("won") == 0.5).height == 2  # the dead heat
    assert frame.height < starters


def test_training_frame_filters_dates_and_sql_transpiles(
    world_warehouse: DuckDBWarehouse,
) -> None:
    recording = RecordingWarehouse(world_warehouse)
    frame = training_frame(recording, dt.date(2021, 3, 1), dt.date(2021, 3, 31))
    assert frame["race_date"].min() >= dt.date(2021, 3, 1)  # type: ignore[operator]
    assert frame["race_date"].max() <= dt.date(2021, 3, 31)  # type: ignore[operator]
    assert_transpiles_to_bigquery(recording.statements)


def test_a_feature_that_drives_winning_beats_uniform() -> None:
    frame = direct_frame(1000, seed=11)
    train, valid, test = frame[:6000], frame[6000:8000], frame[8000:]
    train = train.filter(pl.col("race_id") != train["race_id"][-1])  # whole races only
    valid = valid.filter(~pl.col("race_id").is_in([valid["race_id"][0], valid["race_id"][-1]]))
    test = test.filter(pl.col("race_id") != test["race_id"][0])
    model = train_model(train, valid, CONFIG, feature_names=("x", "z"))
    loss = winner_log_loss(predict_proba(model, test), test)
    assert loss < uniform_loss(test) - 0.2
    importance = dict(
        zip(model.feature_names, model.booster.feature_importance("gain"), strict=True)
    )
    assert importance["x"] > 5 * importance["z"]


def test_reading_the_places_learns_more_from_few_races() -> None:
    """Where the whole order follows the same strengths, the places are information: a model
    trained on the first three places of 150 races predicts the winner better than one
    trained on their winners alone."""
    frame = direct_frame(1150, seed=12)
    races = frame["race_id"].unique(maintain_order=True)
    train = frame.filter(pl.col("race_id").is_in(races[:120].implode()))
    valid = frame.filter(pl.col("race_id").is_in(races[120:150].implode()))
    test = frame.filter(pl.col("race_id").is_in(races[150:].implode()))
    names = ("x", "z")
    winner = train_model(
        train, valid, CONFIG.model_copy(update={"order_places": 1}), feature_names=names
    )
    places = train_model(
        train, valid, CONFIG.model_copy(update={"order_places": 3}), feature_names=names
    )
    assert places.objective.startswith("discounted Plackett-Luce over the first 3 places")
    assert winner.objective == "per-race softmax (conditional logit)"
    assert winner_log_loss(predict_proba(places, test), test) < winner_log_loss(
        predict_proba(winner, test), test
    )
    with pytest.raises(KeibaError, match="finish_pos"):
        train_model(train.drop("finish_pos"), valid, CONFIG.model_copy(update={"order_places": 3}),
                    feature_names=names)  # fmt: skip


def test_model_on_a_synthetic_world_beats_uniform_on_later_races(
    model: TrainedModel, split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
) -> None:
    train, _, test = split
    assert test["race_date"].min() > train["race_date"].max()  # type: ignore[operator]
    loss = winner_log_loss(predict_proba(model, test), test)
    assert loss < uniform_loss(test) - 0.03
    assert model.feature_version == FEATURE_VERSION
    assert model.trained_from == train["race_date"].min()
    assert model.trained_to == train["race_date"].max()
    assert 1 <= model.best_iteration <= CONFIG.num_boost_round
    assert model.booster.current_iteration() == model.best_iteration
    assert model.metrics["valid_log_loss"] < model.metrics["valid_uniform_log_loss"]


def test_probabilities_sum_to_one_per_race_in_any_row_order(
    model: TrainedModel, split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
) -> None:
    test = split[2]
    p = predict_proba(model, test)
    assert p.shape == (test.height,)
    assert np.all((p > 0) & (p < 1))
    sums = test.with_columns(p=pl.Series(p)).group_by("race_id").agg(pl.col("p").sum())["p"]
    assert np.allclose(sums.to_numpy(), 1.0)
    shuffled = test.with_columns(p=pl.Series(p)).sample(fraction=1.0, shuffle=True, seed=3)
    assert np.allclose(predict_proba(model, shuffled), shuffled["p"].to_numpy(), atol=1e-12)
    assert predict_proba(model, test.head(0)).shape == (0,)


def test_training_is_deterministic_and_the_version_follows_content(
    model: TrainedModel, split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
) -> None:
    train, valid, _ = split
    again = train_model(train, valid, CONFIG)
    assert again.version == model.version
    assert again.version.startswith("fm-") and len(again.version) == 15
    assert again.booster.model_to_string() == model.booster.model_to_string()
    other = train_model(train.filter(pl.col("race_date") > train["race_date"].min()), valid, CONFIG)
    assert other.version != model.version


def test_the_thread_count_changes_neither_the_trees_nor_the_version(
    split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
) -> None:
    train, valid, _ = split
    one, two = (
        train_model(train, valid, CONFIG.model_copy(update={"num_threads": n})) for n in (1, 2)
    )
    assert one.version == two.version
    assert one.booster.model_to_string() == two.booster.model_to_string()
    assert "num_threads" not in one.booster.model_to_string()


def test_training_without_validation_runs_all_rounds(
    split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
) -> None:
    config = CONFIG.model_copy(update={"num_boost_round": 7})
    model = train_model(split[0], None, config)
    assert model.best_iteration == 7
    assert "valid_log_loss" not in model.metrics


def test_save_and_load_round_trip(
    model: TrainedModel, split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    store = FsspecObjectStore(str(tmp_path))
    prefix = save_model(model, store)
    assert prefix == f"models/{model.version}"
    assert store.list(prefix) == [f"{prefix}/meta.json", f"{prefix}/model.txt"]
    loaded = load_model(store, model.version)
    test = split[2]
    assert np.array_equal(predict_proba(loaded, test), predict_proba(model, test))
    assert replace(loaded, booster=model.booster) == model
    assert all(math.isfinite(v) for v in loaded.metrics.values())


def test_a_corrupted_or_missing_artefact_is_refused(model: TrainedModel, tmp_path: Path) -> None:
    store = FsspecObjectStore(str(tmp_path))
    prefix = save_model(model, store)
    text = store.get(f"{prefix}/model.txt").decode()
    store.put(f"{prefix}/model.txt", text.replace("shrinkage=", "shrinkage=0", 1).encode())
    with pytest.raises(KeibaError, match="does not match"):
        load_model(store, model.version)
    with pytest.raises(KeibaError, match="not in the object store"):
        load_model(store, "fm-000000000000")


def test_frames_without_features_or_winners_are_rejected(
    split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
) -> None:
    train = split[0]
    with pytest.raises(KeibaError, match="no race with a winner"):
        train_model(train.with_columns(won=pl.lit(0.0)), None, CONFIG)
    with pytest.raises(KeibaError, match="lacks feature columns"):
        train_model(train.drop("age"), None, CONFIG)


def test_importing_the_packages_does_not_import_lightgbm() -> None:
    code = (
        "import sys, keiba.model_training, keiba.predictor; "
        "sys.exit(1 if 'lightgbm' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

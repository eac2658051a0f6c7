"""A fundamental model boosted from the market: LightGBM starts from each runner's log market
probability (`model.offset: market`) and its trees learn what the market leaves over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from feature_engineering.synthetic import make_world, warehouse_of
from keiba.common.config import ModelConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
from keiba.feature_engineering import build_features
from keiba.market.fields import market_frame
from keiba.model_training import (
    TrainedModel,
    load_model,
    predict_proba,
    save_model,
    train_model,
    training_frame,
    winner_log_loss,
)
from keiba.model_training.model import market_offset, model_version
from keiba.model_training.objective import group_codes, group_softmax
from keiba.model_training.starters import model_probabilities
from model_training.market_worlds import race_frame, split

CONFIG = ModelConfig(
    num_boost_round=150,
    learning_rate=0.1,
    num_leaves=15,
    min_data_in_leaf=20,
    early_stopping_rounds=20,
    seed=1,
    order_places=1,
)
"""The winner alone: these worlds' places follow the strengths undiscounted, which the
discounted Plackett–Luce of more places would read as a reason to sharpen the market."""
MARKET = CONFIG.model_copy(update={"offset": "market"})
NAMES = ("x", "z")


def market_world(n_races: int, seed: int, *, hidden: float) -> pl.DataFrame:
    """Races won ∝ exp(1.5·x + hidden·z); the market's odds price 1.5·x alone, exactly (no
    take): with `hidden` 0 the market is the truth, otherwise it misses what `z` says."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(6, 15, n_races)
    race = np.repeat(np.arange(n_races), sizes)
    x = rng.normal(0, 1, len(race))
    z = rng.normal(0, 1, len(race))
    codes = race.astype(np.int64)
    q = group_softmax(1.5 * x, codes, n_races)
    g = 1.5 * x + hidden * z + rng.gumbel(size=len(race))
    return race_frame(race, {"x": x, "z": z}, g, q)


def trees_alone(model: TrainedModel, frame: pl.DataFrame) -> np.ndarray:
    """What the booster gives without the offset: LightGBM's predict never adds it."""
    codes, n = group_codes(frame["race_id"])
    scores = model.booster.predict(frame.select(NAMES).to_numpy())
    return group_softmax(scores, codes, n)


def test_lightgbm_gives_the_initial_score_to_the_objective_and_metric_not_to_predict() -> None:
    """What the offset model relies on, checked on the pinned LightGBM: the custom objective
    and the custom metric see the scores with each dataset's init_score; predict does not."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 2)), (rng.random(200) < 0.5).astype(float)
    seen: dict[str, np.ndarray] = {}

    def objective(preds: np.ndarray, _: lgb.Dataset) -> tuple[np.ndarray, np.ndarray]:
        seen.setdefault("objective", preds.copy())
        return 0.1 * (preds - y), np.ones_like(preds)

    def metric(preds: np.ndarray, _: lgb.Dataset) -> tuple[str, float, bool]:
        seen.setdefault("metric", preds.copy())
        return "m", 0.0, False

    train = lgb.Dataset(x, label=y, init_score=np.full(200, 5.0))
    valid = lgb.Dataset(x, label=y, init_score=np.full(200, -7.0), reference=train)
    params = {"objective": objective, "metric": "None", "verbosity": -1, "num_threads": 1}
    booster = lgb.train(params, train, 1, valid_sets=[valid], feval=metric)
    assert np.all(seen["objective"] == 5.0)  # before the first tree: the offset alone
    assert np.all(np.abs(seen["metric"] + 7.0) < 1.0)  # the valid offset plus one tree
    assert np.all(np.abs(booster.predict(x)) < 1.0)  # the trees alone


def test_where_the_market_is_the_truth_the_offset_model_learns_almost_nothing() -> None:
    train, valid, test = split(market_world(1500, seed=3, hidden=0.0))
    model = train_model(train, valid, MARKET, feature_names=NAMES)
    assert model.offset == "market"
    p = predict_proba(model, test)
    q = test["p_market"].to_numpy()
    assert np.mean(np.abs(np.log(p / q))) < 0.06
    assert winner_log_loss(p, test) == pytest.approx(winner_log_loss(q, test), abs=0.005)
    # the plain model re-learns the market from x, and is further from it
    plain = predict_proba(train_model(train, valid, CONFIG, feature_names=NAMES), test)
    assert np.mean(np.abs(np.log(plain / q))) > 0.2
    # the trees alone are nearly uniform within each race: prediction needs the offset
    alone = trees_alone(model, test)
    assert np.mean(np.abs(np.log(alone / q))) > 0.5
    assert winner_log_loss(alone, test) > winner_log_loss(q, test) + 0.3


def test_where_the_market_misses_a_feature_the_offset_model_learns_just_that() -> None:
    train, valid, test = split(market_world(1500, seed=4, hidden=0.8))
    model = train_model(train, valid, MARKET, feature_names=NAMES)
    q = test["p_market"].to_numpy()
    assert winner_log_loss(predict_proba(model, test), test) < winner_log_loss(q, test) - 0.05
    gain = dict(zip(model.feature_names, model.booster.feature_importance("gain"), strict=True))
    assert gain["z"] > 5 * gain["x"]  # the market already prices x
    plain = train_model(train, valid, CONFIG, feature_names=NAMES)
    plain_gain = dict(zip(NAMES, plain.booster.feature_importance("gain"), strict=True))
    assert plain_gain["x"] > plain_gain["z"]  # without the offset the trees re-learn x


def test_the_offset_is_part_of_the_version_and_training_is_deterministic() -> None:
    train, valid, _ = split(market_world(600, seed=5, hidden=0.5))
    one, two = (
        train_model(
            train,
            valid,
            MARKET.model_copy(update={"num_threads": n}),
            feature_names=NAMES,
        )
        for n in (1, 2)
    )
    assert one.version == two.version
    assert one.booster.model_to_string() == two.booster.model_to_string()
    text = one.booster.model_to_string()
    assert one.version == model_version(text, one.feature_version, "market")
    assert one.version != model_version(text, one.feature_version)
    with pytest.raises(ValidationError, match="offset"):
        ModelConfig(offset="odds")  # type: ignore[arg-type]
    with pytest.raises(KeibaError, match="unknown offset 'odds'"):
        train_model(train, valid, MARKET.model_copy(update={"offset": "odds"}),
                    feature_names=NAMES)  # fmt: skip


def test_races_without_usable_odds_are_left_out_of_training_and_never_priced() -> None:
    train, valid, test = split(market_world(600, seed=6, hidden=0.5))
    races = train["race_id"].unique(maintain_order=True)
    zero, missing, incomplete = races[0], races[1], races[2]
    broken = train.with_columns(
        pl.when((pl.col("race_id") == zero) & (pl.col("x") == pl.col("x").max().over("race_id")))
        .then(0.0)
        .when(pl.col("race_id") == missing)
        .then(None)
        .otherwise(pl.col("win_odds_final"))
        .alias("win_odds_final"),
        (pl.col("race_id") != incomplete).alias("complete_field"),
    )
    model = train_model(broken, valid, MARKET, feature_names=NAMES)
    assert model.metrics["offset_dropped_races"] == 3
    assert model.metrics["train_races"] == len(races) - 3
    without = train.filter(~pl.col("race_id").is_in([zero, missing, incomplete]))
    same = train_model(without, valid, MARKET, feature_names=NAMES)
    assert same.version == model.version  # dropped, not priced some other way
    bad = test.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(None)
        .otherwise(pl.col("p_market"))
        .alias("p_market")
    )
    with pytest.raises(KeibaError, match="without a usable market probability"):
        predict_proba(model, bad)
    with pytest.raises(KeibaError, match="has no 'p_market'"):
        predict_proba(model, test.drop("p_market"))
    with pytest.raises(KeibaError, match="'complete_field'"):
        train_model(train.drop("complete_field"), valid, MARKET, feature_names=NAMES)


def test_a_training_race_s_offset_comes_from_its_own_odds_alone() -> None:
    from keiba.model_training.model import _with_market

    frame = market_world(40, seed=7, hidden=0.0)
    before, _ = _with_market(frame)
    target = frame["race_id"][0]
    changed = frame.with_columns(
        pl.when(pl.col("race_id") == target)
        .then(pl.col("win_odds_final") * pl.int_range(pl.len()).cast(pl.Float64).add(1.0))
        .otherwise(pl.col("win_odds_final"))
    )
    after, _ = _with_market(changed)
    same = before["race_id"] != target
    assert np.array_equal(market_offset(before.filter(same)), market_offset(after.filter(same)))
    assert not np.allclose(market_offset(before.filter(~same)), market_offset(after.filter(~same)))
    # 1/odds normalised within the race, as the market the model is compared with
    assert np.allclose(before["p_market"].to_numpy(), frame["p_market"].to_numpy())


@pytest.fixture(scope="module")
def world() -> Iterator[DuckDBWarehouse]:
    warehouse = warehouse_of(make_world(seed=5, n_days=40, ability_scale=1.2))
    build_features(warehouse)
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="module")
def world_model(world: DuckDBWarehouse) -> TrainedModel:
    days = sorted(training_frame(world, None, None)["race_date"].unique().to_list())
    config = MARKET.model_copy(update={"num_boost_round": 30})
    return train_model(
        training_frame(world, None, days[23]), training_frame(world, days[24], days[29]), config
    )


def test_evaluation_boosts_from_the_market_it_is_compared_with(
    world: DuckDBWarehouse, world_model: TrainedModel
) -> None:
    """The offset at prediction is the starters' own p_market — in evaluation the race's final
    odds, the market the model is scored against — and a race's p_model moves with its own
    market alone."""
    days = sorted(training_frame(world, None, None)["race_date"].unique().to_list())
    starters = market_frame(world, days[30], days[-1])
    priced = model_probabilities(world_model, world, starters)
    assert not priced.stale_races and not priced.unpriced_races
    frame = priced.frame
    target = frame["race_id"][0]
    moved = starters.with_columns(
        pl.when((pl.col("race_id") == target) & (pl.col("horse_no") == 1))
        .then(pl.col("p_market") * 3)
        .otherwise(pl.col("p_market"))
    )
    again = model_probabilities(world_model, world, moved).frame
    others = frame["race_id"] != target
    assert np.array_equal(
        frame.filter(others)["p_model"].to_numpy(), again.filter(others)["p_model"].to_numpy()
    )
    assert not np.allclose(
        frame.filter(~others)["p_model"].to_numpy(), again.filter(~others)["p_model"].to_numpy()
    )
    # a starter without a market probability: its race is not priced, the others are
    gap = starters.with_columns(
        pl.when((pl.col("race_id") == target) & (pl.col("horse_no") == 1))
        .then(None)
        .otherwise(pl.col("p_market"))
        .alias("p_market")
    )
    missing = model_probabilities(world_model, world, gap)
    assert missing.unpriced_races == (target,) and not missing.stale_races
    assert missing.frame.filter(pl.col("race_id") == target)["p_model"].is_null().all()
    assert missing.frame.filter(others)["p_model"].equals(frame.filter(others)["p_model"])
    with pytest.raises(KeibaError, match="carry no market probabilities"):
        model_probabilities(world_model, world, starters.drop("p_market"))


def test_a_stored_offset_model_is_loaded_with_its_offset_and_cannot_lose_it(
    world_model: TrainedModel, tmp_path: Path
) -> None:
    store = FsspecObjectStore(str(tmp_path))
    prefix = save_model(world_model, store)
    meta = json.loads(store.get(f"{prefix}/meta.json"))
    assert meta["offset"] == "market"
    loaded = load_model(store, world_model.version)
    assert loaded.offset == "market"
    del meta["offset"]
    store.put(f"{prefix}/meta.json", json.dumps(meta).encode())
    with pytest.raises(KeibaError, match="does not match its version hash"):
        load_model(store, world_model.version)


def test_train_evaluate_and_predict_carry_the_offset(
    world: DuckDBWarehouse, tmp_path: Path
) -> None:
    """`model.offset: market` through the product: the stored model records it, evaluation and
    `keiba model predict` price with the races' own final odds (the market they combine)."""
    from keiba.common.config import load_config
    from keiba.evaluator.evaluation import evaluate_frame
    from keiba.model_training.pipeline import (
        evaluate_version,
        load_stored_model,
        plan_periods,
        train_and_store,
    )
    from keiba.predictor import predict_races, with_market_stage

    settings = {"num_boost_round": 30, "learning_rate": 0.1, "num_leaves": 7, "offset": "market"}
    config = load_config(None, tmp_path, {"model": settings})
    store = FsspecObjectStore(str(tmp_path / "objects"))
    periods = plan_periods(world)
    result = train_and_store(
        config, world, store, periods, evaluate=evaluate_frame, rebuild_features=False
    )
    stored = load_stored_model(store, result.stored.model.version)
    assert stored.model.offset == "market" and stored.training["offset"] == "market"
    assert result.to_dict()["offset"] == "market"
    days = sorted(training_frame(world, None, None)["race_date"].unique().to_list())
    first = next(d for d in days if d > periods.combine_to)
    evaluation = evaluate_version(
        config, world, stored, first, days[-1], evaluate=evaluate_frame, resamples=20, track=False
    )
    assert evaluation["races"] > 0
    predicted = predict_races(stored.model, world, first, days[-1])
    combined = with_market_stage(world, predicted, stored.combination)
    truth = market_frame(world, first, days[-1]).select("race_id", "horse_no", "p_market")
    both = combined.join(truth, on=["race_id", "horse_no"], suffix="_final")
    assert both.height == combined.height
    assert np.allclose(both["p_market"].to_numpy(), both["p_market_final"].to_numpy())
    features = both.join(
        training_frame(world, first, days[-1]), on=["race_id", "horse_no"], how="left"
    )
    codes, n = group_codes(features["race_id"])
    trees = stored.model.booster.predict(features.select(stored.model.feature_names).to_numpy())
    expected = group_softmax(trees + np.log(features["p_market"].to_numpy()), codes, n)
    assert np.allclose(features["p_model"].to_numpy(), expected, atol=1e-12)
    # a race whose final odds are incomplete: not priced by the offset model, the others are
    target = predicted["race_id"][0]
    horse = int(predicted["horse_no"][0])
    keep = world.query(
        "SELECT win_odds_final FROM runners WHERE race_id = ? AND horse_no = ?", [target, horse]
    )["win_odds_final"][0]
    world.query(
        "UPDATE runners SET win_odds_final = NULL WHERE race_id = ? AND horse_no = ?",
        [target, horse],
    )
    try:
        gap = predict_races(stored.model, world, first, days[-1])
        gap = with_market_stage(world, gap, stored.combination)
    finally:
        world.query(
            "UPDATE runners SET win_odds_final = ? WHERE race_id = ? AND horse_no = ?",
            [keep, target, horse],
        )
    hit = pl.col("race_id") == target
    assert gap.filter(hit).select("p_model", "p_market", "p_combined").null_count().row(0) == (
        (gap.filter(hit).height,) * 3
    )
    assert gap.filter(~hit)["p_model"].equals(combined.filter(~hit)["p_model"])
    assert gap.filter(~hit)["p_combined"].null_count() == 0

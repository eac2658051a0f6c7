"""The market as the trees' input (`train_model(market_feature=True)`, a research variant):
each runner's log market probability and its gap to the race's favourite as feature columns,
with the offset or without it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from keiba.common.config import ModelConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import FsspecObjectStore
from keiba.model_training import (
    load_model,
    predict_proba,
    save_model,
    train_model,
    winner_log_loss,
)
from keiba.model_training.model import (
    MARKET_FEATURES,
    model_version,
    uses_market,
    with_market_features,
)
from keiba.model_training.objective import group_softmax
from model_training.market_worlds import race_frame, split

CONFIG = ModelConfig(
    num_boost_round=200,
    learning_rate=0.1,
    num_leaves=15,
    min_data_in_leaf=20,
    early_stopping_rounds=20,
    seed=1,
    order_places=1,
)
OFFSET = CONFIG.model_copy(update={"offset": "market"})
NAMES = ("x", "z")


def overconfident_world(n_races: int, seed: int) -> pl.DataFrame:
    """The market prices 1.5·x plus what only it knows (m, no feature carries it), but too
    sharply: the truth is 0.6 times the market's log-odds, plus 0.8·z, which the market misses.
    Trees that never see the market cannot weigh it below 1 (their offset fixes its weight at
    1), nor learn m."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(6, 15, n_races)
    race = np.repeat(np.arange(n_races), sizes)
    x, z, m = (rng.normal(0, 1, len(race)) for _ in range(3))
    codes = race.astype(np.int64)
    q = group_softmax(1.5 * x + m, codes, n_races)
    g = 0.6 * (1.5 * x + m) + 0.8 * z + rng.gumbel(size=len(race))
    return race_frame(race, {"x": x, "z": z}, g, q)


def test_the_market_columns_are_the_log_probability_and_its_gap_within_the_race() -> None:
    frame = overconfident_world(30, seed=1)
    out = with_market_features(frame)
    q = frame["p_market"].to_numpy()
    assert np.allclose(out["market_log_p"].to_numpy(), np.log(q))
    favourite = frame.select(pl.col("p_market").max().over("race_id"))["p_market"].to_numpy()
    assert np.allclose(out["market_log_p_gap"].to_numpy(), np.log(q / favourite))
    with pytest.raises(KeibaError, match="without a usable market probability"):
        with_market_features(frame.with_columns(p_market=pl.lit(0.0)))


def test_trees_that_read_the_market_weigh_it_below_one_where_the_offset_cannot() -> None:
    """The guess measured on the real data, checked where it is true by construction: with an
    overconfident market the offset model (weight 1 on the market, trees on x and z) loses to
    the same model whose trees also read log q; without the offset, reading the market beats
    the plain model, which cannot see what only the market knows."""
    train, valid, test = split(overconfident_world(2500, seed=2))
    variants = {
        "plain": (CONFIG, False),
        "offset": (OFFSET, False),
        "feature": (CONFIG, True),
        "both": (OFFSET, True),
    }
    loss = {
        name: winner_log_loss(
            predict_proba(
                train_model(train, valid, config, feature_names=NAMES, market_feature=reads),
                test,
            ),
            test,
        )
        for name, (config, reads) in variants.items()
    }
    assert loss["both"] < loss["offset"] - 0.04
    assert loss["feature"] < loss["plain"] - 0.08
    q = test["p_market"].to_numpy()
    assert loss["both"] < winner_log_loss(q, test) - 0.2


def test_a_race_s_prediction_moves_with_its_own_market_alone() -> None:
    """The market columns at prediction come from each race's own p_market: another race's
    market never moves a race's probabilities (as in training: `_with_market`, per race)."""
    train, valid, test = split(overconfident_world(600, seed=3))
    for config in (CONFIG, OFFSET):
        model = train_model(train, valid, config, feature_names=NAMES, market_feature=True)
        before = predict_proba(model, test)
        target = test["race_id"][0]
        moved = test.with_columns(
            pl.when((pl.col("race_id") == target) & (pl.int_range(pl.len()).over("race_id") == 0))
            .then(pl.col("p_market") * 3)
            .otherwise(pl.col("p_market"))
        )
        after = predict_proba(model, moved)
        others = (test["race_id"] != target).to_numpy()
        assert np.array_equal(before[others], after[others])
        assert not np.allclose(before[~others], after[~others])
        # and the reverse: the target race alone, priced apart from the others, is the same
        alone = predict_proba(model, test.filter(pl.col("race_id") == target))
        assert np.allclose(alone, before[~others], atol=1e-12)


def test_a_model_reading_the_market_is_never_priced_without_it(tmp_path: Path) -> None:
    train, valid, test = split(overconfident_world(600, seed=4))
    one, two = (
        train_model(
            train,
            valid,
            CONFIG.model_copy(update={"num_threads": n}),
            feature_names=NAMES,
            market_feature=True,
        )
        for n in (1, 2)
    )
    assert one.version == two.version  # deterministic whatever the threads
    assert one.feature_names == (*NAMES, *MARKET_FEATURES) and one.offset is None
    assert uses_market(one)
    plain = train_model(train, valid, CONFIG, feature_names=NAMES)
    assert not uses_market(plain) and plain.feature_names == NAMES
    # the market columns are in the model text, so in the version
    text = one.booster.model_to_string()
    assert "market_log_p market_log_p_gap" in text
    assert one.version == model_version(text, one.feature_version)
    with pytest.raises(KeibaError, match="has no 'p_market'"):
        predict_proba(one, test.drop("p_market"))
    # stored and loaded with its market columns; meta.json cannot drop them
    store = FsspecObjectStore(str(tmp_path))
    prefix = save_model(one, store)
    loaded = load_model(store, one.version)
    assert uses_market(loaded) and np.array_equal(
        predict_proba(loaded, test), predict_proba(one, test)
    )
    meta = json.loads(store.get(f"{prefix}/meta.json"))
    meta["feature_names"] = list(NAMES)
    store.put(f"{prefix}/meta.json", json.dumps(meta).encode())
    with pytest.raises(KeibaError, match="feature names are not the model's"):
        load_model(store, one.version)
    # a frame carrying columns named as the market's is overwritten from its p_market
    forged = test.with_columns(market_log_p=pl.lit(0.0), market_log_p_gap=pl.lit(0.0))
    assert np.array_equal(predict_proba(one, forged), predict_proba(one, test))


def test_the_starters_are_priced_with_their_own_market() -> None:
    """Through `model_probabilities`, the one source of p_model (evaluation, backtest, race
    day): the market columns come from the starters' p_market, race by race, and a race with a
    starter without one is not priced."""
    from feature_engineering.synthetic import make_world, warehouse_of
    from keiba.feature_engineering import build_features
    from keiba.market.fields import market_frame
    from keiba.model_training import training_frame
    from keiba.model_training.starters import model_probabilities

    with warehouse_of(make_world(seed=5, n_days=40, ability_scale=1.2)) as world:
        build_features(world)
        days = sorted(training_frame(world, None, None)["race_date"].unique().to_list())
        model = train_model(
            training_frame(world, None, days[23]),
            training_frame(world, days[24], days[29]),
            CONFIG.model_copy(update={"num_boost_round": 30}),
            market_feature=True,
        )
        assert model.feature_names[-2:] == MARKET_FEATURES
        starters = market_frame(world, days[30], days[-1])
        priced = model_probabilities(model, world, starters)
        assert not priced.stale_races and not priced.unpriced_races
        target = priced.frame["race_id"][0]
        one = (pl.col("race_id") == target) & (pl.col("horse_no") == 1)
        moved = starters.with_columns(
            pl.when(one).then(pl.col("p_market") * 3).otherwise(pl.col("p_market"))
        )
        again = model_probabilities(model, world, moved).frame
        gap = starters.with_columns(
            pl.when(one).then(None).otherwise(pl.col("p_market")).alias("p_market")
        )
        missing = model_probabilities(model, world, gap)
        with pytest.raises(KeibaError, match="carry no market probabilities"):
            model_probabilities(model, world, starters.drop("p_market"))
    others = pl.col("race_id") != target
    frame = priced.frame
    assert frame.filter(others)["p_model"].equals(again.filter(others)["p_model"])
    assert not np.allclose(
        frame.filter(~others)["p_model"].to_numpy(), again.filter(~others)["p_model"].to_numpy()
    )
    assert missing.unpriced_races == (target,)
    assert missing.frame.filter(~others)["p_model"].is_null().all()
    assert missing.frame.filter(others)["p_model"].equals(frame.filter(others)["p_model"])

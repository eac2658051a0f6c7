import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from keiba.evaluator.metrics import (
    calibration_table,
    delta_r2_interval,
    score,
)
from thread_counts import outputs_by_polars_threads


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": ["a"] * 4 + ["b"] * 2,
            "won": [1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            "p": [0.5, 0.3, 0.1, 0.1, 0.8, 0.2],
            "odds": [1.6, 2.7, 8.0, 8.0, 1.25, 4.0],
        }
    )


def test_winner_log_loss_and_pseudo_r2_by_hand() -> None:
    s = score(_frame(), "p")
    expected = (-math.log(0.5) - math.log(0.2)) / 2
    uniform = (math.log(4) + math.log(2)) / 2
    assert s.races == 2
    assert s.log_loss == pytest.approx(expected)
    assert s.pseudo_r2 == pytest.approx(1 - expected / uniform)


def test_dead_heat_splits_the_winner_weight() -> None:
    frame = pl.DataFrame({"race_id": ["a"] * 3, "won": [0.5, 0.5, 0.0], "p": [0.4, 0.4, 0.2]})
    assert score(frame, "p").log_loss == pytest.approx(-math.log(0.4))


def test_races_with_a_missing_probability_are_not_scored() -> None:
    frame = _frame().with_columns(
        pl.when(pl.col("race_id") == "b").then(None).otherwise(pl.col("p")).alias("p")
    )
    assert score(frame, "p").races == 1


def test_delta_r2_interval_brackets_the_point() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for race in range(200):
        p = rng.dirichlet(np.ones(8))
        winner = rng.choice(8, p=p)
        noisy = rng.dirichlet(np.ones(8) * 5) * 0.5 + p * 0.5
        for h in range(8):
            rows.append((str(race), float(h == winner), float(p[h]), float(noisy[h])))
    frame = pl.DataFrame(rows, schema=["race_id", "won", "good", "bad"], orient="row")
    delta, low, high = delta_r2_interval(frame, "good", "bad", resamples=500)
    assert low <= delta <= high
    assert delta > 0


def test_calibration_bins_cover_every_runner() -> None:
    table = calibration_table(_frame(), "p", bins=3)
    assert table["runners"].sum() == 6


def test_bootstrap_interval_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for race in range(20_000):
        p = rng.dirichlet(np.ones(6))
        winner = rng.choice(6, p=p)
        q = rng.dirichlet(np.ones(6))
        rows += [(f"r{race:05d}", float(h == winner), float(p[h]), float(q[h])) for h in range(6)]
    frame = pl.DataFrame(rows, schema=["race_id", "won", "a", "b"], orient="row")
    results = {
        delta_r2_interval(frame.sample(fraction=1.0, shuffle=True, seed=s), "a", "b")
        for s in range(5)
    }
    assert len(results) == 1


def _races_reordered(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The same rows with whole races in a shuffled order (each race's rows in their order)."""
    races = frame["race_id"].unique(maintain_order=True)
    order = pl.DataFrame(
        {"race_id": races.sample(fraction=1.0, shuffle=True, seed=seed), "k": range(races.len())}
    )
    return (
        frame.join(order, on="race_id", maintain_order="left")
        .sort("k", maintain_order=True)
        .drop("k")
    )


def _random_races(n_races: int, runners: int, seed: int) -> pl.DataFrame:
    """Races of `runners` starters with Dirichlet probabilities `p` and a winner drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(runners), n_races)
    winners = (rng.random((n_races, 1)) > p.cumsum(axis=1)).sum(axis=1)
    return pl.DataFrame(
        {
            "race_id": np.repeat([f"r{i:05d}" for i in range(n_races)], runners),
            "won": (np.arange(runners) == winners[:, None]).astype(float).ravel(),
            "p": p.ravel(),
        }
    )


def test_scores_do_not_depend_on_the_order_of_the_races() -> None:
    frame = _random_races(5_000, 10, seed=2)
    scores = {score(_races_reordered(frame, seed), "p") for seed in range(5)}
    assert len(scores) == 1


def test_scores_do_not_depend_on_the_number_of_polars_threads(tmp_path: Path) -> None:
    _random_races(5_000, 10, seed=4).write_parquet(tmp_path / "races.parquet")
    code = (
        "import sys, polars as pl; from keiba.evaluator.metrics import score; "
        "print(repr(score(pl.read_parquet(sys.argv[1]), 'p')))"
    )
    scores = outputs_by_polars_threads(code, str(tmp_path / "races.parquet"))
    assert len(scores) == 1


def test_calibration_does_not_depend_on_the_order_of_tied_probabilities() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    frame = pl.DataFrame(
        {"p": rng.integers(1, 20, n) / 20, "won": (rng.random(n) < 0.3).astype(float)}
    )
    tables = [
        calibration_table(frame.sample(fraction=1.0, shuffle=True, seed=seed), "p")
        for seed in range(5)
    ]
    assert all(t.equals(tables[0]) for t in tables)

"""The floor knowable from the past: true win probabilities with the day's form integrated out."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest

from dataset_frames import with_truth
from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.canonical import read_canonical, write_canonical
from keiba.simulator import WorldConfig, generate_world
from keiba.simulator.knowable import FormIntegral
from keiba.simulator.race_model import win_probabilities


def _races(seed: int, starters: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.0, 0.9, (len(starters), 18))
    starts = np.arange(18)[None, :] < np.array(starters)[:, None]
    return mean, starts


def _monte_carlo(mean: np.ndarray, scale: float, noise: float, draws: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    logits = scale * (mean[None, :] + rng.normal(0.0, noise, (draws, mean.size)))
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return np.asarray((weights / weights.sum(axis=1, keepdims=True)).mean(axis=0))


def test_without_daily_form_it_is_the_softmax_of_the_strengths() -> None:
    mean, starts = _races(1, (5, 12, 18))
    p = FormIntegral.of(1.48, 0.0).probabilities(mean, starts, 1.48)
    assert p == pytest.approx(win_probabilities(mean, starts, 1.48), abs=1e-9)


@pytest.mark.parametrize(("scale", "noise"), [(1.48, 0.35), (1.0, 1.2)])
def test_it_is_the_expectation_of_the_true_probabilities_over_the_form(
    scale: float, noise: float
) -> None:
    mean, starts = _races(2, (6, 16))
    p = FormIntegral.of(scale, noise).probabilities(mean, starts, scale)
    for row, n in enumerate((6, 16)):
        expected = _monte_carlo(mean[row, :n], scale, noise, 400_000)
        # Monte Carlo error at 400,000 draws is below 1e-3 for these probabilities
        assert p[row, :n] == pytest.approx(expected, abs=2e-3)
        assert np.all(p[row, n:] == 0.0)
    assert p.sum(axis=1) == pytest.approx(1.0, abs=1e-12)


def test_form_flattens_the_favourite_and_lifts_the_outsider() -> None:
    mean, starts = _races(3, (10,))
    knowable = FormIntegral.of(1.48, 0.35).probabilities(mean, starts, 1.48)[0, :10]
    plain = win_probabilities(mean, starts, 1.48)[0, :10]
    assert knowable[np.argmax(plain)] < plain.max()
    assert knowable[np.argmin(plain)] > plain.min()


def test_a_world_records_both_and_the_knowable_floor_is_higher() -> None:
    world = generate_world(WorldConfig(years=1, seed=5, max_race_days=24))
    truth = world.true_probabilities
    assert truth["p_knowable"].null_count() == 0
    sums = truth.group_by("race_id").agg(pl.col("p_true", "p_knowable").sum())
    assert sums["p_knowable"].to_numpy() == pytest.approx(1.0, abs=1e-9)
    winners = world.runners.filter(pl.col("finish_pos") == 1).join(
        truth, on=["race_id", "horse_no"]
    )
    true_loss = -float(winners["p_true"].log().mean())  # type: ignore[arg-type]
    knowable_loss = -float(winners["p_knowable"].log().mean())  # type: ignore[arg-type]
    assert true_loss < knowable_loss < true_loss + 0.3


def test_a_world_without_the_column_still_imports_with_it_null(tiny_world, tmp_path) -> None:
    frames = with_truth(tiny_world)
    old = {**frames, "true_probabilities": frames["true_probabilities"].drop("p_knowable")}
    write_canonical(old, tmp_path / "old", "csv")
    read = read_canonical(tmp_path / "old")["true_probabilities"]
    assert read["p_knowable"].null_count() == read.height > 0


def test_a_warehouse_from_before_the_column_gains_it(tmp_path) -> None:
    path = tmp_path / "old.duckdb"
    with DuckDBWarehouse(path) as w:
        w.ensure_schema()
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE true_probabilities DROP COLUMN p_knowable")
    con.close()
    with DuckDBWarehouse(path) as w:
        w.ensure_schema()
        columns = w.query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'true_probabilities' ORDER BY ordinal_position"
        )["column_name"].to_list()
    assert columns == ["race_id", "horse_no", "p_true", "p_knowable"]

"""Evaluation against the market, checked against hand computations on tiny frames."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from keiba.common.errors import KeibaError
from keiba.evaluator.evaluation import evaluate_frame, top_pick_win_rate
from thread_counts import outputs_by_polars_threads


def tiny() -> pl.DataFrame:
    """Two races of 3 runners. Race A (turf): horse 1 wins; race B (dirt): horse 3 wins."""
    return pl.DataFrame(
        {
            "race_id": ["A"] * 3 + ["B"] * 3,
            "horse_no": [1, 2, 3, 1, 2, 3],
            "won": [1.0, 0, 0, 0, 0, 1.0],
            "p_market": [0.5, 0.3, 0.2, 0.6, 0.3, 0.1],
            "p_model": [0.4, 0.4, 0.2, 0.2, 0.3, 0.5],
            "p_combined": [0.5, 0.3, 0.2, 0.4, 0.3, 0.3],
            "surface": ["turf"] * 3 + ["dirt"] * 3,
            "race_class": ["新馬"] * 6,
        }
    )


def test_scores_and_delta_match_hand_computation() -> None:
    e = evaluate_frame(tiny(), resamples=50)
    u = math.log(3)
    market = (-math.log(0.5) - math.log(0.1)) / 2
    combined = (-math.log(0.5) - math.log(0.3)) / 2
    assert e.races == 2 and e.runners == 6
    assert e.scores["p_market"].log_loss == pytest.approx(market)
    assert e.scores["p_market"].pseudo_r2 == pytest.approx(1 - market / u)
    assert e.scores["p_combined"].log_loss == pytest.approx(combined)
    # Brier: Σ (p − y)² per race, averaged.
    brier_a = 0.5**2 + 0.3**2 + 0.2**2
    brier_b = 0.6**2 + 0.3**2 + 0.9**2
    assert e.scores["p_market"].brier == pytest.approx((brier_a + brier_b) / 2)
    delta, low, high = e.delta_r2["p_combined"]
    assert delta == pytest.approx((market - combined) / u)
    assert low <= delta <= high


def test_conditional_calibration_splits_runners_by_model_against_market() -> None:
    e = evaluate_frame(tiny(), resamples=10)
    above = e.conditional["model_above_market"]
    below = e.conditional["model_below_market"]
    # model > market: A2 (0.4 > 0.3), B3 (0.5 > 0.1, won). Equal (A3, B2) counts as below.
    assert above["runners"] == 2 and below["runners"] == 4
    assert above["observed"] == pytest.approx(0.5)
    assert above["predicted"]["p_model"] == pytest.approx(0.45)
    assert above["predicted"]["p_market"] == pytest.approx(0.2)
    assert below["observed"] == pytest.approx(0.25)
    assert below["predicted"]["p_model"] == pytest.approx((0.4 + 0.2 + 0.2 + 0.3) / 4)
    table = above["tables"]["p_model"]
    assert table["runners"].sum() == 2


def test_top_pick_win_rates_with_ties_going_to_the_lowest_horse_number() -> None:
    e = evaluate_frame(tiny(), resamples=10)
    # favourite: A1 (won), B1 (lost); model: A1/A2 tie → A1 (won), B3 (won);
    # combined: A1 (won), B1 (0.4, lost).
    assert e.top_pick_win_rate == {"favourite": 0.5, "model": 1.0, "combined": 0.5}
    assert top_pick_win_rate(tiny().filter(pl.col("race_id") == "B"), "p_model") == 1.0


def test_breakdowns_score_each_surface_and_class_on_its_own_races() -> None:
    e = evaluate_frame(tiny(), resamples=10)
    by_surface = {r["surface"]: r for r in e.breakdowns["surface"]}
    u = math.log(3)
    assert by_surface["turf"]["races"] == 1
    assert by_surface["turf"]["market_pseudo_r2"] == pytest.approx(1 - math.log(2) / u)
    assert by_surface["dirt"]["model_pseudo_r2"] == pytest.approx(1 + math.log(0.5) / u)
    assert by_surface["dirt"]["delta_r2_combined"] == pytest.approx(
        (math.log(0.3) - math.log(0.1)) / u
    )
    assert [r["race_class"] for r in e.breakdowns["race_class"]] == ["新馬"]


def test_races_missing_a_probability_are_left_out_of_everything() -> None:
    frame = tiny().with_columns(
        pl.when((pl.col("race_id") == "B") & (pl.col("horse_no") == 2))
        .then(None)
        .otherwise(pl.col("p_model"))
        .alias("p_model")
    )
    e = evaluate_frame(frame, resamples=10)
    assert e.races == 1 and e.runners == 3
    assert {r["surface"] for r in e.breakdowns["surface"]} == {"turf"}
    metrics = e.metrics("test_")
    assert metrics["test_races"] == 1.0
    assert all("@" not in k and " " not in k for k in metrics)
    with pytest.raises(KeibaError, match="no race"):
        evaluate_frame(frame.filter(pl.col("race_id") == "B"))


def test_truth_is_scored_when_present_and_the_dict_is_json_ready() -> None:
    import json

    frame = tiny().with_columns(
        p_true=pl.Series([0.6, 0.2, 0.2, 0.3, 0.3, 0.4]),
        p_knowable=pl.Series([0.5, 0.25, 0.25, 0.3, 0.35, 0.35]),
    )
    e = evaluate_frame(frame, resamples=10)
    assert e.scores["p_true"].log_loss == pytest.approx((-math.log(0.6) - math.log(0.4)) / 2)
    assert e.scores["p_knowable"].log_loss == pytest.approx((-math.log(0.5) - math.log(0.35)) / 2)
    data = json.loads(json.dumps(e.to_dict()))
    assert set(data["scores"]) == {"p_market", "p_model", "p_combined", "p_true", "p_knowable"}
    old_world = evaluate_frame(frame.with_columns(p_knowable=None), resamples=10)
    assert set(old_world.scores) == {"p_market", "p_model", "p_combined", "p_true"}
    assert data["delta_r2_vs_market"]["p_combined"]["resamples"] == 10


def test_calibration_figure_has_three_panels() -> None:
    from keiba.evaluator.evaluation import calibration_figure

    fig = calibration_figure(evaluate_frame(tiny(), resamples=10))
    assert len(fig.axes) == 3


def random_frame(n_races: int, runners: int, seed: int) -> pl.DataFrame:
    """Races with Dirichlet market, model and combined probabilities, won by the market's."""
    rng = np.random.default_rng(seed)
    p = {name: rng.dirichlet(np.ones(runners), n_races) for name in ("market", "model", "combined")}
    winners = (rng.random((n_races, 1)) > p["market"].cumsum(axis=1)).sum(axis=1)
    race = np.repeat(np.arange(n_races), runners)
    return pl.DataFrame(
        {
            "race_id": [f"r{i:05d}" for i in race],
            "horse_no": np.tile(np.arange(1, runners + 1), n_races),
            "won": (np.arange(runners) == winners[:, None]).astype(float).ravel(),
            **{f"p_{name}": v.ravel() for name, v in p.items()},
            "surface": np.where(race % 2 == 0, "turf", "dirt"),
        }
    )


def test_the_evaluation_is_the_same_with_one_or_many_polars_threads() -> None:
    # over 100,000 rows: Polars filters them in parallel, into one chunk per part
    code = (
        "import json, sys; sys.path[:0] = sys.argv[1:]; "
        "from test_evaluation import random_frame; "
        "from keiba.evaluator.evaluation import evaluate_frame; "
        "e = evaluate_frame(random_frame(10_000, 12, seed=5), resamples=20); "
        "print(json.dumps(e.to_dict(), sort_keys=True))"
    )
    here = Path(__file__).parent
    outputs = outputs_by_polars_threads(code, str(here), str(here.parent))
    assert len(outputs) == 1

import numpy as np
import polars as pl
import pytest

from keiba.market.probabilities import market_probabilities


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": ["a"] * 4 + ["b"] * 2,
            "odds": [1.6, 2.7, 8.0, 8.0, 1.25, 4.0],
        }
    )


def test_market_probabilities_are_normalised_per_race() -> None:
    frame = _frame().with_columns(market_probabilities(_frame(), "odds"))
    sums = frame.group_by("race_id").agg(pl.col("p_market").sum())["p_market"]
    assert np.allclose(sums.to_numpy(), 1.0)
    b = frame.filter(pl.col("race_id") == "b")["p_market"].to_list()
    assert b == pytest.approx([0.8 / 1.05, 0.25 / 1.05])


def test_a_runner_without_odds_has_no_market_probability() -> None:
    frame = pl.DataFrame({"race_id": ["a", "a", "a"], "win_odds_final": [2.0, None, 2.0]})
    assert market_probabilities(frame).to_list() == [0.5, None, 0.5]

"""The late-odds drift model: deterministic per race, keeps the overround, JRA's 0.1 steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keiba.common.config import OddsDriftConfig
from keiba.market.odds_drift import MIN_ODDS, decision_odds

FINAL = [2.4, 3.8, 6.5, 12.0, 25.3, 80.1]


def test_none_and_zero_sigma_return_the_final_odds() -> None:
    assert decision_odds(FINAL, "r1", OddsDriftConfig(model="none")) == FINAL
    assert decision_odds(FINAL, "r1", OddsDriftConfig(sigma=0.0)) == FINAL


def test_same_race_same_prices_other_race_other_prices() -> None:
    drift = OddsDriftConfig(sigma=0.2, seed=3)
    first = decision_odds(FINAL, "2018030106010101", drift)
    assert first == decision_odds(FINAL, "2018030106010101", drift)
    assert first != decision_odds(FINAL, "2018030106010102", drift)
    assert first != decision_odds(FINAL, "2018030106010101", OddsDriftConfig(sigma=0.2, seed=4))
    assert first != FINAL


@given(
    st.lists(st.floats(1.1, 300.0), min_size=2, max_size=18),
    st.floats(0.01, 0.6),
    st.text(min_size=1, max_size=16),
)
def test_quotes_are_jra_steps_and_keep_the_overround(
    final: list[float], sigma: float, race_id: str
) -> None:
    moved = decision_odds(final, race_id, OddsDriftConfig(sigma=sigma))
    assert len(moved) == len(final)
    for o in moved:
        assert o >= MIN_ODDS
        assert math.isclose(o * 10, round(o * 10), abs_tol=1e-6)
    # rounding down to 0.1 only adds implied probability; the floor at 1.1 may remove some
    before = sum(1 / o for o in final)
    after = sum(1 / o for o in moved)
    unclamped = all(o > MIN_ODDS for o in moved)
    if unclamped:
        assert after >= before - 1e-9


def test_drift_is_centred_on_the_final_price() -> None:
    rng = np.random.default_rng(0)
    ratios = []
    for i in range(400):
        final = list(np.round(rng.uniform(2, 40, 12), 1))
        moved = decision_odds(final, f"race-{i}", OddsDriftConfig(sigma=0.1))
        ratios += [m / f for m, f in zip(moved, final, strict=True)]
    assert 0.95 < float(np.median(ratios)) < 1.03
    assert 0.05 < float(np.std(np.log(ratios))) < 0.15


@pytest.mark.parametrize("bad", [0.0, 1.0, -3.0, float("nan"), float("inf")])
def test_bad_final_odds_are_refused_with_the_race(bad: float) -> None:
    with pytest.raises(ValueError, match="race r9: final odds"):
        decision_odds([2.0, bad], "r9", OddsDriftConfig())

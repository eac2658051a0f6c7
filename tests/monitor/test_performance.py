"""Performance bands: a hand-computed tiny case, and Monte-Carlo sanity of the verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keiba.monitor import BetOutcome, Verdict, performance_bands


def test_bands_by_hand() -> None:
    bets = [(0.5, 2.0, 100, 200), (0.25, 4.0, 200, 0)]
    bands = performance_bands(bets, min_bets=1)
    # hits: E = 0.75, Var = 0.25 + 0.1875 = 0.4375, realised 1
    assert bands.hits.expected == pytest.approx(0.75)
    assert bands.hits.sd == pytest.approx(math.sqrt(0.4375))
    assert bands.hits.z == pytest.approx(0.25 / math.sqrt(0.4375))
    # return: E = 200·0.5 + 800·0.25 = 300; Var = 200²·0.25 + 800²·0.1875 = 130 000
    assert bands.return_yen.expected == pytest.approx(300.0)
    assert bands.return_yen.sd == pytest.approx(math.sqrt(130_000))
    assert bands.return_yen.realised == 200.0
    assert bands.return_yen.z == pytest.approx(-100 / math.sqrt(130_000))
    assert bands.staked_yen == 300 and bands.bets == 2
    assert bands.hit_rate == 0.5 and bands.expected_hit_rate == pytest.approx(0.375)
    assert bands.return_rate == pytest.approx(200 / 300)
    assert bands.expected_return_rate == pytest.approx(1.0)
    assert bands.verdict is Verdict.WITHIN_LUCK
    assert bands.hits.low == pytest.approx(0.75 - 1.96 * math.sqrt(0.4375))


def test_too_few_bets_is_insufficient() -> None:
    bands = performance_bands([(0.5, 2.0, 100, 0)] * 5, min_bets=30)
    assert bands.hits.verdict is Verdict.INSUFFICIENT
    assert bands.verdict is Verdict.INSUFFICIENT


def test_certain_bets_have_no_spread() -> None:
    assert performance_bands([(1.0, 1.0, 100, 100)], min_bets=1).hits.z is None
    missed = performance_bands([(1.0, 1.0, 100, 0)], min_bets=1)
    assert missed.hits.verdict is Verdict.BELOW


def test_bad_bets_are_rejected() -> None:
    with pytest.raises(ValueError, match="probability"):
        BetOutcome(1.5, 2.0, 100, 0)
    with pytest.raises(ValueError, match="odds"):
        BetOutcome(0.5, 0.5, 100, 0)


def _simulate(
    rng: np.random.Generator, claimed: np.ndarray, true: np.ndarray, odds: np.ndarray
) -> tuple[Verdict, Verdict]:
    won = rng.random(claimed.size) < true
    stake = 100
    bets = [
        BetOutcome(float(p), float(o), stake, int(stake * o) if w else 0)
        for p, o, w in zip(claimed, odds, won, strict=True)
    ]
    bands = performance_bands(bets)
    return bands.hits.verdict, bands.return_yen.verdict


def test_calibrated_bettor_is_within_luck_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    n_bets, trials = 400, 600
    p = rng.uniform(0.05, 0.5, n_bets)
    odds = np.round(1.1 / p, 1)
    verdicts = [_simulate(rng, p, p, odds) for _ in range(trials)]
    hits_within = np.mean([h is Verdict.WITHIN_LUCK for h, _ in verdicts])
    return_within = np.mean([r is Verdict.WITHIN_LUCK for _, r in verdicts])
    assert 0.92 <= hits_within <= 0.98
    assert 0.91 <= return_within <= 0.99


def test_miscalibrated_bettor_is_flagged() -> None:
    rng = np.random.default_rng(11)
    n_bets, trials = 400, 200
    claimed = rng.uniform(0.05, 0.5, n_bets)
    odds = np.round(1.1 / claimed, 1)
    true = claimed * 0.75  # the model is 33 % too confident
    verdicts = [_simulate(rng, claimed, true, odds) for _ in range(trials)]
    assert np.mean([h is Verdict.BELOW for h, _ in verdicts]) > 0.8  # power ≈ Φ(3.1 − 1.96) ≈ 0.88
    # Return is noisier (payouts weigh the long shots): the hit count is the sharper test.
    assert np.mean([r is Verdict.BELOW for _, r in verdicts]) > 0.55  # observed 0.675

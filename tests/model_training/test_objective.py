"""The per-race softmax objective and the winner log-loss, in numpy."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from keiba.model_training import winner_log_loss
from keiba.model_training.objective import (
    HESSIAN_FLOOR,
    group_codes,
    group_softmax,
    order_grad_hess,
    order_ranks,
    softmax_grad_hess,
    softmax_loss,
)


@pytest.fixture
def races() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Three races, rows interleaved (not sorted), one with a dead heat."""
    race_ids = ["b", "a", "b", "c", "a", "b", "c", "a", "c", "c"]
    labels = np.array([0.0, 0.0, 1.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.5, 0.0])
    scores = np.random.default_rng(0).normal(0, 1.5, len(race_ids))
    codes, n = group_codes(race_ids)
    return scores, labels, codes, n


def test_group_softmax_sums_to_one_per_race(races: tuple[np.ndarray, ...]) -> None:
    scores, _, codes, n = races
    p = group_softmax(scores + 800.0, codes, int(n))  # stable for large scores
    assert np.allclose(np.bincount(codes, weights=p), 1.0)
    assert np.all(p > 0)


def test_gradient_matches_finite_differences(races: tuple[np.ndarray, ...]) -> None:
    scores, labels, codes, n = races
    grad, _ = softmax_grad_hess(scores, labels, codes, int(n))
    eps = 1e-6
    for i in range(len(scores)):
        up, down = scores.copy(), scores.copy()
        up[i] += eps
        down[i] -= eps
        numeric = softmax_loss(up, labels, codes, int(n)) - softmax_loss(
            down, labels, codes, int(n)
        )
        assert numeric / (2 * eps) == pytest.approx(grad[i], abs=1e-6)


def test_hessian_is_the_diagonal_second_derivative(races: tuple[np.ndarray, ...]) -> None:
    scores, labels, codes, n = races
    _, hess = softmax_grad_hess(scores, labels, codes, int(n))
    eps = 1e-4
    for i in range(len(scores)):
        up, down = scores.copy(), scores.copy()
        up[i] += eps
        down[i] -= eps
        g_up, _ = softmax_grad_hess(up, labels, codes, int(n))
        g_down, _ = softmax_grad_hess(down, labels, codes, int(n))
        assert (g_up[i] - g_down[i]) / (2 * eps) == pytest.approx(hess[i], abs=1e-6)


def test_hessian_is_floored() -> None:
    codes, n = group_codes(["a", "a"])
    _, hess = softmax_grad_hess(np.array([60.0, -60.0]), np.array([1.0, 0.0]), codes, n)
    assert np.all(hess >= HESSIAN_FLOOR)


def test_winner_log_loss_averages_over_races_and_dead_heat_winners() -> None:
    frame = pl.DataFrame(
        {
            "race_id": ["r1", "r1", "r2", "r2", "r2", "r3", "r3"],
            "won": [1.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0],  # r3 has no winner: skipped
        }
    )
    p = np.array([0.8, 0.2, 0.5, 0.3, 0.2, 0.5, 0.5])
    expected = (-math.log(0.8) + (-math.log(0.5) - math.log(0.3)) / 2) / 2
    assert winner_log_loss(p, frame) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no race"):
        winner_log_loss(p[5:], frame[5:])


def test_uniform_probabilities_score_mean_log_field_size() -> None:
    won = [1.0, 0.0, 0.0, 0.0] + [1.0] + [0.0] * 9
    frame = pl.DataFrame({"race_id": ["a"] * 4 + ["b"] * 10, "won": won})
    p = 1.0 / frame.select(pl.len().over("race_id")).to_series().to_numpy()
    assert winner_log_loss(p, frame) == pytest.approx((math.log(4) + math.log(10)) / 2)


def _order_loss(scores: np.ndarray, labels: np.ndarray, ranks: np.ndarray, codes: np.ndarray,
                powers: tuple[float, ...]) -> float:  # fmt: skip
    """The discounted Plackett–Luce loss written race by race, stage by stage."""
    total = softmax_loss(scores, labels, codes, int(codes.max()) + 1)
    for race in np.unique(codes):
        s, r = scores[codes == race], ranks[codes == race]
        for k, power in enumerate(powers[1:], start=1):
            left = r >= k
            if (r == k).any() and left.sum() >= 2:
                total -= power * s[r == k][0] - math.log(np.exp(power * s[left]).sum())
    return total


def test_order_ranks_put_non_finishers_last_and_break_ties_by_row() -> None:
    codes, n = group_codes(["a", "a", "a", "b", "b"])
    ranks = order_ranks(np.array([2.0, np.nan, 1.0, 1.0, 1.0]), codes, n)
    assert list(ranks[[0, 2, 3, 4]]) == [1, 0, 0, 1]
    assert ranks[1] > 17


def test_the_order_loss_of_the_winner_alone_is_the_softmax(
    races: tuple[np.ndarray, ...],
) -> None:
    scores, labels, codes, n = races
    ranks = np.zeros(len(scores), dtype=np.int64)
    plain = softmax_grad_hess(scores, labels, codes, int(n))
    order = order_grad_hess(scores, labels, ranks, codes, int(n), (1.0,))
    assert np.array_equal(plain[0], order[0]) and np.array_equal(plain[1], order[1])


def test_the_order_gradient_and_hessian_are_the_loss_derivatives(
    races: tuple[np.ndarray, ...],
) -> None:
    scores, labels, codes, n = races
    finish = np.array([3.0, 2.0, 1.0, 1.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0])
    ranks = order_ranks(finish, codes, int(n))
    powers = (1.0, 0.81, 0.65, 0.65)
    grad, hess = order_grad_hess(scores, labels, ranks, codes, int(n), powers)
    eps = 1e-5
    for i in range(len(scores)):
        up, down = scores.copy(), scores.copy()
        up[i] += eps
        down[i] -= eps
        numeric = _order_loss(up, labels, ranks, codes, powers) - _order_loss(
            down, labels, ranks, codes, powers
        )
        assert numeric / (2 * eps) == pytest.approx(grad[i], abs=1e-5)
        g_up, _ = order_grad_hess(up, labels, ranks, codes, int(n), powers)
        g_down, _ = order_grad_hess(down, labels, ranks, codes, int(n), powers)
        assert (g_up[i] - g_down[i]) / (2 * eps) == pytest.approx(hess[i], abs=1e-4)

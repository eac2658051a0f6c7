import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from keiba.themis import (
    isaacs_expected_profit,
    isaacs_stake,
    joint_kelly,
    kelly_fraction,
    simultaneous_kelly,
)

P = [0.30, 0.22, 0.18, 0.12, 0.08, 0.06, 0.04]
ODDS = [2.9, 5.2, 4.8, 9.5, 15.0, 12.0, 30.0]


def _expected_log(x: np.ndarray, pi: np.ndarray, payoff: np.ndarray) -> float:
    wealth = 1.0 - x.sum() + payoff @ x
    if np.any(wealth[pi > 0] <= 0):
        return -math.inf
    return float(pi[pi > 0] @ np.log(wealth[pi > 0]))


def _numerical_optimum(pi: np.ndarray, payoff: np.ndarray) -> np.ndarray:
    """A general-purpose solver (SLSQP) on the same problem, as the reference."""
    k = payoff.shape[1]
    found = optimize.minimize(
        lambda x: -_expected_log(x, pi, payoff),
        np.full(k, 0.01),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "ineq", "fun": lambda x: 0.999999 - x.sum()}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    # SLSQP may end marginally outside the budget (Σx slightly above 1), where the objective
    # is better than any feasible point; scale such an answer back onto the budget.
    x = np.clip(found.x, 0.0, None)
    return x / max(1.0, float(x.sum()))


def test_smoczynski_tomkins_worked_example() -> None:
    f = simultaneous_kelly(P, ODDS)
    assert f == pytest.approx([0.0, 0.04762, 0.0, 0.02565, 0.02024, 0.0, 0.01012], abs=5e-6)
    assert sum(f) == pytest.approx(0.1036, abs=5e-5)
    assert sum(kelly_fraction(p, o) for p, o in zip(P, ODDS, strict=True)) == pytest.approx(
        0.0719, abs=5e-5
    )


def test_joint_kelly_on_one_pool_is_smoczynski_tomkins_and_a_general_optimiser() -> None:
    exact = np.array(simultaneous_kelly(P, ODDS))
    joint = joint_kelly(np.array(P), np.diag(ODDS))
    assert joint == pytest.approx(exact, abs=1e-8)
    reference = _numerical_optimum(np.array(P), np.diag(ODDS))
    assert np.max(np.abs(reference - exact)) < 1e-4
    assert (
        _expected_log(exact, np.array(P), np.diag(ODDS))
        >= _expected_log(reference, np.array(P), np.diag(ODDS)) - 1e-12
    )


def test_isaacs_worked_example() -> None:
    x = isaacs_stake(0.06, 0.17, 100_000, 4_150)
    assert x == pytest.approx(416, abs=0.5)
    assert isaacs_expected_profit(x, 0.06, 0.17, 100_000, 4_150) == pytest.approx(39.6, abs=0.05)
    # it is the maximum: a little more or less earns less
    for other in (x - 50, x + 50):
        assert isaacs_expected_profit(other, 0.06, 0.17, 100_000, 4_150) < 39.61
    assert isaacs_stake(0.04, 0.17, 100_000, 4_150) == 0.0  # no edge: 0.04 × 20 < 1


@st.composite
def pools(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    n = draw(st.integers(2, 10))
    weights = draw(st.lists(st.floats(0.05, 5.0), min_size=n, max_size=n))
    p = [w / math.fsum(weights) for w in weights]
    odds = [draw(st.floats(1.2, 60.0)) for _ in range(n)]
    return p, odds


@settings(max_examples=40, deadline=None)
@given(pools())
def test_simultaneous_kelly_agrees_with_a_general_optimiser(pool) -> None:
    p, o = pool
    exact = np.array(simultaneous_kelly(p, o))
    pi, payoff = np.array(p), np.diag(o)
    reference = _numerical_optimum(pi, payoff)
    # the exact answer is at least as good, and the two agree on the stakes (SLSQP stops short
    # of the boundary Σx = 1 where a book with Σ 1/o < 1 puts the optimum: there, only values)
    assert _expected_log(exact, pi, payoff) >= _expected_log(reference, pi, payoff) - 1e-9
    if sum(1 / x for x in o) > 1 + 1e-9:  # at Σ 1/o = 1 many stakes share the optimum
        assert np.max(np.abs(reference - exact)) < 2e-3
    assert joint_kelly(pi, payoff) == pytest.approx(exact, abs=1e-7)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_joint_kelly_across_overlapping_tickets_agrees_with_a_general_optimiser(seed) -> None:
    """Win tickets and exacta tickets on 4 runners: outcomes are the 12 exacta orders."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(4) * 2)
    orders = [(i, j) for i in range(4) for j in range(4) if i != j]
    pi = np.array([p[i] * p[j] / (1 - p[i]) for i, j in orders])
    win_odds = 0.8 / p * rng.uniform(0.8, 1.6, 4)
    ex_odds = 0.75 / pi * rng.uniform(0.8, 1.6, 12)
    payoff = np.zeros((12, 16))
    for r, (i, _j) in enumerate(orders):
        payoff[r, i] = win_odds[i]
        payoff[r, 4 + r] = ex_odds[r]
    ours = joint_kelly(pi, payoff)
    reference = _numerical_optimum(pi, payoff)
    assert _expected_log(ours, pi, payoff) >= _expected_log(reference, pi, payoff) - 1e-9
    assert np.all(ours >= 0) and ours.sum() <= 1.0

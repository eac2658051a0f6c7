import numpy as np
import pytest

from keiba.model_training.exotic_fit import (
    FinishedRace,
    consistent_orders,
    fit_exotics,
    log_likelihood,
)
from keiba.themis.exotics import finish_orders


def _simulated(gamma: float, delta: float, races: int, seed: int) -> list[FinishedRace]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(races):
        n = int(rng.integers(8, 17))
        p = rng.dirichlet(np.full(n, 1.2))
        win = {h + 1: float(x) for h, x in enumerate(p)}
        win[n] = 1.0 - sum(v for h, v in win.items() if h != n)
        orders = finish_orders(win, gamma, delta)
        i, j, k = orders.orders[rng.choice(orders.probabilities.size, p=orders.probabilities)]
        out.append(FinishedRace(tuple(win.values()), ((int(i),), (int(j),), (int(k),))))
    return out


def test_the_fit_recovers_known_exponents() -> None:
    fit = fit_exotics(_simulated(0.8, 0.65, 1_500, seed=1))
    assert fit.gamma == pytest.approx(0.8, abs=3 * fit.gamma_se + 0.01)
    assert fit.delta == pytest.approx(0.65, abs=3 * fit.delta_se + 0.01)
    assert fit.log_likelihood >= fit.harville_log_likelihood


def test_dead_heats_sum_over_the_orders_they_allow() -> None:
    assert consistent_orders([(0, 1), (2,)]) == [(0, 1, 2), (1, 0, 2)]
    assert consistent_orders([(0,), (1,), (2, 3)]) == [(0, 1, 2), (0, 1, 3)]
    win = (0.4, 0.3, 0.2, 0.1)
    tie = log_likelihood([FinishedRace(win, ((0, 1), (2,)))], 0.9, 0.7)
    one = log_likelihood([FinishedRace(win, ((0,), (1,), (2,)))], 0.9, 0.7)
    other = log_likelihood([FinishedRace(win, ((1,), (0,), (2,)))], 0.9, 0.7)
    assert np.exp(tie) == pytest.approx(np.exp(one) + np.exp(other))

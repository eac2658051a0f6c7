"""Stake sizing formulas, in fractions of the bankroll.

Pure arithmetic on floats; conversion to yen (and every rule about units and caps) happens in
`keiba.themis.rules`, the only place a fraction becomes money. Four sizers, from simplest:

* `kelly_fraction` — one bet alone: f = (p·o − 1)/(o − 1).
* `simultaneous_kelly` — mutually exclusive outcomes of one pool, exact (Smoczynski & Tomkins
  2010): sort by p·o, grow the set S while p·o > R, R = (1 − Σ_S p)/(1 − Σ_S 1/o),
  f_k = p_k − R/o_k.
* `joint_kelly` — any set of tickets whose wins overlap (several pools of one race, place and
  wide tickets): maximise the expected log wealth Σ_ω π_ω log(1 − Σx + Σ_j x_j R_ωj) over the
  enumerated outcomes ω, a concave problem, by a log-barrier Newton method.
* `isaacs_stake` — the bet that maximises expected profit when the bet itself moves the
  parimutuel odds (Isaacs 1953): x* = sqrt(c(1−t)(W−w)·w/(1 − c(1−t))) − w.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

__all__ = [
    "expected_return",
    "isaacs_expected_profit",
    "isaacs_stake",
    "joint_kelly",
    "kelly_fraction",
    "simultaneous_kelly",
]

FloatArray = NDArray[np.float64]

_threadpools: Any = None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Small dense solves are fastest on one thread (and far slower on a busy machine with
    several); uses threadpoolctl when it is installed."""
    global _threadpools
    if _threadpools is None:
        try:
            from threadpoolctl import ThreadpoolController

            _threadpools = ThreadpoolController()
        except ImportError:  # pragma: no cover - optional
            _threadpools = False
    with _threadpools.limit(limits=1, user_api="blas") if _threadpools else nullcontext():
        yield


def expected_return(probability: float, odds: float) -> float:
    """Expected return per yen staked: p · o (decimal odds include the stake)."""
    return probability * odds


def kelly_fraction(probability: float, odds: float) -> float:
    """Kelly's fraction for one bet: (p·o − 1)/(o − 1), or 0 when the bet has no edge."""
    if odds <= 1.0:
        raise ValueError(f"odds must be above 1.0, was {odds}")
    edge = probability * odds - 1.0
    return edge / (odds - 1.0) if edge > 0 else 0.0


def simultaneous_kelly(probabilities: Sequence[float], odds: Sequence[float]) -> list[float]:
    """Exact Kelly fractions for mutually exclusive outcomes of one pool (Smoczynski–Tomkins).

    `probabilities[k]` and `odds[k]` describe outcome k; outcomes not listed are losses. Sums
    are exact (`math.fsum`) so the result does not depend on the order the outcomes come in.

    >>> [round(f, 5) for f in simultaneous_kelly([0.3, 0.22, 0.18, 0.12, 0.08, 0.06, 0.04],
    ...                                         [2.9, 5.2, 4.8, 9.5, 15.0, 12.0, 30.0])]
    [0.0, 0.04762, 0.0, 0.02565, 0.02024, 0.0, 0.01012]
    """
    if len(probabilities) != len(odds):
        raise ValueError(f"{len(probabilities)} probabilities for {len(odds)} odds")
    order = sorted(range(len(odds)), key=lambda k: -probabilities[k] * odds[k])
    chosen: list[int] = []
    reserve = 1.0
    for k in order:
        if probabilities[k] * odds[k] <= reserve:
            break
        candidate = [*chosen, k]
        p_sum = math.fsum(probabilities[i] for i in candidate)
        q_sum = math.fsum(1.0 / odds[i] for i in candidate)
        if q_sum >= 1.0:
            break
        chosen = candidate
        reserve = max(0.0, (1.0 - p_sum) / (1.0 - q_sum))
    fractions = [0.0] * len(odds)
    for k in chosen:
        fractions[k] = max(0.0, probabilities[k] - reserve / odds[k])
    return fractions


def _barrier_objective(
    x: FloatArray, pi: FloatArray, payoff: sparse.csr_matrix, mu: float
) -> float:
    cash = 1.0 - float(np.sum(x))
    wealth = cash + payoff @ x
    if cash <= 0 or np.any(x <= 0) or np.any(wealth[pi > 0] <= 0):
        return -math.inf
    live = pi > 0
    return float(pi[live] @ np.log(wealth[live])) + mu * (float(np.sum(np.log(x))) + math.log(cash))


def _barrier_newton(
    pi: FloatArray,
    r: sparse.csr_matrix,
    x: FloatArray,
    mu: float,
    mu_end: float,
    tolerance: float,
) -> FloatArray:
    """Newton's method on the barrier problem for μ from `mu` down to `mu_end`."""
    rt = r.T.tocsr()
    k = x.size
    while True:
        for _ in range(50):
            cash = 1.0 - float(np.sum(x))
            wealth = cash + r @ x
            d = np.where(pi > 0, pi / np.maximum(wealth, 1e-300), 0.0)
            d2 = d / np.maximum(wealth, 1e-300)
            grad = rt @ d - float(np.sum(d)) + mu / x - mu / cash
            rd = rt @ d2
            # minus the Hessian: A'DA + μ diag(1/x²) + μ/c² 11', with A = R − 11'
            hess = (rt @ sparse.diags(d2) @ r).toarray()
            hess -= rd[:, None] + rd[None, :]
            hess += float(np.sum(d2)) + mu / cash**2
            hess[np.diag_indices(k)] += mu / x**2
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                step = grad / np.diag(hess)
            decrement = float(grad @ step)
            if decrement / 2 <= tolerance:
                break
            # fraction to the boundary, then backtracking on the barrier objective
            t = 1.0
            negative = step < 0
            if np.any(negative):
                t = min(t, 0.99 * float(np.min(-x[negative] / step[negative])))
            total = float(np.sum(step))
            if total > 0:
                t = min(t, 0.99 * cash / total)
            current = _barrier_objective(x, pi, r, mu)
            while t > 1e-14:
                if _barrier_objective(x + t * step, pi, r, mu) >= current + 1e-4 * t * decrement:
                    break
                t *= 0.5
            x = x + t * step
        if mu <= mu_end:
            return x
        mu = max(mu * 0.05, mu_end)


def joint_kelly(
    outcome_probabilities: FloatArray,
    payoff: sparse.spmatrix | FloatArray,
    *,
    start: Sequence[bool] | None = None,
    tolerance: float = 1e-12,
) -> FloatArray:
    """Fractions x ≥ 0, Σx ≤ 1, that maximise Σ_ω π_ω log(1 − Σx + (R x)_ω).

    `payoff[ω, j]` is what one yen on ticket j returns in outcome ω (its decimal odds when it
    wins there, else 0); `outcome_probabilities` (π) sum to 1 over an exhaustive set of
    outcomes. Solved by Newton's method on the log-barrier problem with the barrier weight μ
    shrinking to 1e-12, as an active-set method: it solves over the tickets marked in `start`
    (a guess of those in the optimum, e.g. the per-pool Kelly tickets; by default all), then
    adds any ticket the optimality conditions say is missing (a positive marginal gain in
    expected log wealth) and solves again. The optimum is found to about 1e-9 of the bankroll;
    fractions below that are returned as 0.
    """
    pi = np.asarray(outcome_probabilities, dtype=np.float64)
    r = sparse.csr_matrix(payoff, dtype=np.float64)
    n_outcomes, k = r.shape
    if pi.shape != (n_outcomes,):
        raise ValueError(f"{pi.shape[0]} outcome probabilities for {n_outcomes} payoff rows")
    if k == 0:
        return np.zeros(0)
    # outcomes where no ticket pays are one outcome: wealth is the cash left
    paying = np.flatnonzero(r.getnnz(axis=1) > 0)
    lost = float(np.sum(pi)) - float(np.sum(pi[paying]))
    r = sparse.vstack([r[paying], sparse.csr_matrix((1, k))]).tocsr()
    pi = np.append(pi[paying], max(lost, 0.0))
    with _one_blas_thread():
        return _active_set(pi, r, start, tolerance)


def _active_set(
    pi: FloatArray, r: sparse.csr_matrix, start: Sequence[bool] | None, tolerance: float
) -> FloatArray:
    k = r.shape[1]
    guess = np.ones(k, dtype=bool) if start is None else np.asarray(start, dtype=bool)
    active = np.flatnonzero(guess) if guess.any() else np.arange(k)
    x = np.zeros(k)
    for _ in range(k + 1):
        initial = np.where(x[active] > 0, x[active], 0.5 / active.size)
        initial *= min(1.0, 0.9 / float(np.sum(initial)))
        solved = _barrier_newton(pi, r[:, active], initial, 1e-3, 1e-12, tolerance)
        x = np.zeros(k)
        x[active] = solved
        cash = 1.0 - float(np.sum(x))
        wealth = cash + r @ x
        d = np.where(pi > 0, pi / np.maximum(wealth, 1e-300), 0.0)
        gain = r.T @ d - float(np.sum(d))  # ∂/∂x_j of the expected log wealth
        level = max(0.0, float(np.max(gain[active]))) + 1e-9
        missing = np.setdiff1d(np.flatnonzero(gain > level), active)
        if missing.size == 0:
            break
        active = np.union1d(active, missing)
    x[x < 1e-9] = 0.0
    return x


def isaacs_stake(probability: float, takeout: float, pool: float, on_outcome: float) -> float:
    """The stake that maximises expected profit against a pool it moves (Isaacs 1953).

    `pool` (W) is all the money in the pool before the bet, `on_outcome` (w) the public's money
    on the outcome, `probability` (c) ours: x* = sqrt(c(1−t)(W−w)·w/(1 − c(1−t))) − w, or 0
    when even a tiny bet has no edge.

    >>> round(isaacs_stake(0.06, 0.17, 100_000, 4_150))
    416
    """
    a = probability * (1.0 - takeout)
    if on_outcome <= 0 or pool <= on_outcome or a >= 1.0:
        return 0.0
    best = math.sqrt(a * (pool - on_outcome) * on_outcome / (1.0 - a)) - on_outcome
    return max(0.0, best)


def isaacs_expected_profit(
    stake: float, probability: float, takeout: float, pool: float, on_outcome: float
) -> float:
    """Expected profit of `stake` after it has moved the odds: c(1−t)(W+x)·x/(w+x) − x.

    >>> round(isaacs_expected_profit(416, 0.06, 0.17, 100_000, 4_150), 1)
    39.6
    """
    if stake <= 0:
        return 0.0
    returned = (1.0 - takeout) * (pool + stake) * stake / (on_outcome + stake)
    return probability * returned - stake

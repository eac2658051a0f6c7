"""Stake sizing formulas, in fractions of the bankroll.

Pure arithmetic on floats; conversion to yen (and every rule about units and caps) happens in
`keiba.themis.rules`, the only place a fraction becomes money. Four sizers, from simplest:

* `kelly_fraction` — one bet alone: f = (p·o − 1)/(o − 1).
* `simultaneous_kelly` — mutually exclusive outcomes of one pool, exact (Smoczynski & Tomkins
  2010): sort by p·o, grow the set S while p·o > R, R = (1 − Σ_S p)/(1 − Σ_S 1/o),
  f_k = p_k − R/o_k; O(k log k) (one sort, prefix sums).
* `joint_kelly` — any set of tickets whose wins overlap (several pools of one race, place and
  wide tickets): maximise the expected log wealth Σ_ω π_ω log(1 − Σx + Σ_j x_j R_ωj) over the
  enumerated outcomes ω, a concave problem, by a primal–dual interior-point method with an
  active set (`keiba.themis.joint`).
* `isaacs_stake` — the bet that maximises expected profit when the bet itself moves the
  parimutuel odds (Isaacs 1953): x* = sqrt(c(1−t)(W−w)·w/(1 − c(1−t))) − w.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from keiba.themis.joint import JointKelly, one_blas_thread, solve_joint_kelly

__all__ = [
    "expected_return",
    "isaacs_expected_profit",
    "isaacs_stake",
    "joint_kelly",
    "joint_problem",
    "kelly_fraction",
    "simultaneous_kelly",
]

FloatArray = NDArray[np.float64]


def expected_return(probability: float, odds: float) -> float:
    """Expected return per yen staked: p · o (decimal odds include the stake)."""
    return probability * odds


def kelly_fraction(probability: float, odds: float) -> float:
    """Kelly's fraction for one bet: (p·o − 1)/(o − 1), or 0 when the bet has no edge."""
    if odds <= 1.0:
        raise ValueError(f"odds must be above 1.0, was {odds}")
    edge = probability * odds - 1.0
    return edge / (odds - 1.0) if edge > 0 else 0.0


def simultaneous_kelly(probabilities: ArrayLike, odds: ArrayLike) -> FloatArray:
    """Exact Kelly fractions for mutually exclusive outcomes of one pool (Smoczynski–Tomkins).

    `probabilities[k]` and `odds[k]` describe outcome k; outcomes not listed are losses. The
    outcomes are sorted by (p·o, p, o), so the prefix sums, and the result, do not depend on the
    order they come in; the set grows while the next p·o beats the reserve rate R.

    >>> [round(float(f), 5) for f in simultaneous_kelly(
    ...     [0.3, 0.22, 0.18, 0.12, 0.08, 0.06, 0.04], [2.9, 5.2, 4.8, 9.5, 15.0, 12.0, 30.0])]
    [0.0, 0.04762, 0.0, 0.02565, 0.02024, 0.0, 0.01012]
    """
    small = isinstance(probabilities, list | tuple) and isinstance(odds, list | tuple)
    if small and len(probabilities) == len(odds) <= SMALL_POOL:  # type: ignore[arg-type]
        return np.array(_smoczynski_tomkins(list(probabilities), list(odds)))  # type: ignore[arg-type]
    p = np.asarray(probabilities, dtype=np.float64)
    o = np.asarray(odds, dtype=np.float64)
    if p.shape != o.shape or p.ndim != 1:
        raise ValueError(f"{p.size} probabilities for {o.size} odds")
    if p.size <= SMALL_POOL:
        return np.array(_smoczynski_tomkins(p.tolist(), o.tolist()))
    order = np.lexsort((o, -p, -p * o))
    ps, os = p[order], o[order]
    p_sum, q_sum = np.cumsum(ps), np.cumsum(1.0 / os)
    open_ = q_sum < 1.0
    reserve = np.maximum(0.0, (1.0 - p_sum) / np.where(open_, 1.0 - q_sum, 1.0))
    before = np.concatenate(([1.0], reserve[:-1]))
    grows = (ps * os > before) & open_
    size = grows.size if grows.all() else int(np.argmin(grows))
    fractions = np.zeros(p.size)
    if size:
        rate = reserve[size - 1]
        fractions[order[:size]] = np.maximum(0.0, ps[:size] - rate / os[:size])
    return fractions


SMALL_POOL = 64
"""Pools up to this size are sized in plain Python (numpy's overhead is larger there)."""


def _smoczynski_tomkins(p: list[float], o: list[float]) -> list[float]:
    """`simultaneous_kelly` for a small pool: the same order, the same running sums."""
    order = sorted(range(len(p)), key=lambda k: (-p[k] * o[k], -p[k], o[k]))
    p_sum = q_sum = 0.0
    reserve, size = 1.0, 0
    for k in order:
        p_sum += p[k]
        q_sum += 1.0 / o[k]
        if p[k] * o[k] <= reserve or q_sum >= 1.0:
            break
        reserve = max(0.0, (1.0 - p_sum) / (1.0 - q_sum))
        size += 1
    fractions = [0.0] * len(p)
    for k in order[:size]:
        fractions[k] = max(0.0, p[k] - reserve / o[k])
    return fractions


def joint_kelly(
    outcome_probabilities: ArrayLike,
    payoff: sparse.spmatrix | ArrayLike,
    *,
    start: Sequence[bool] | NDArray[np.bool_] | None = None,
    near: ArrayLike | None = None,
) -> FloatArray:
    """Fractions x ≥ 0, Σx ≤ 1, that maximise Σ_ω π_ω log(1 − Σx + (R x)_ω).

    `payoff[ω, j]` is what one yen on ticket j returns in outcome ω (its decimal odds when it
    wins there, else 0); `outcome_probabilities` (π) sum to 1 over an exhaustive set of
    outcomes. `start` marks a guess of the tickets in the optimum (e.g. the per-pool Kelly
    tickets; by default all): the solver begins there and adds any ticket the optimality
    conditions ask for; `near`, the optimum of a similar problem (the same race less a few
    tickets), starts it there. The optimum's expected log wealth is found to about 1e-10;
    fractions below 1e-9 are returned as 0.
    """
    pi, r = _paying(outcome_probabilities, payoff)
    k = r.shape[1]
    if k == 0:
        return np.zeros(0)
    guess = np.ones(k, dtype=bool) if start is None else np.asarray(start, dtype=bool)
    if not guess.any():
        guess = np.ones(k, dtype=bool)
    warm = None if near is None else np.asarray(near, dtype=np.float64)
    with one_blas_thread():
        return solve_joint_kelly(pi, r, guess, warm)


def joint_problem(
    outcome_probabilities: ArrayLike, payoff: sparse.spmatrix | ArrayLike
) -> JointKelly:
    """`joint_kelly`'s problem prepared once, to be solved over subsets of its tickets."""
    return JointKelly(*_paying(outcome_probabilities, payoff))


def _paying(
    outcome_probabilities: ArrayLike, payoff: sparse.spmatrix | ArrayLike
) -> tuple[FloatArray, sparse.csc_matrix]:
    """π and R with the outcomes where no ticket pays merged into one (wealth is the cash
    left in each)."""
    pi = np.asarray(outcome_probabilities, dtype=np.float64)
    r = sparse.csr_matrix(payoff, dtype=np.float64)
    n_outcomes, k = r.shape
    if pi.shape != (n_outcomes,):
        raise ValueError(f"{pi.shape[0]} outcome probabilities for {n_outcomes} payoff rows")
    paying = np.flatnonzero(r.getnnz(axis=1) > 0)
    lost = float(np.sum(pi)) - float(np.sum(pi[paying]))
    compressed = sparse.vstack([r[paying], sparse.csr_matrix((1, k))]).tocsc()
    return np.append(pi[paying], max(lost, 0.0)), compressed


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

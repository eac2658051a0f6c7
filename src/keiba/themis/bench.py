"""The Themis benchmark behind `keiba bench themis` (figures in docs/benchmarks.md).

1. A full decision for an 18-runner race offering all eight bet types (6,397 quotes): the model
   disagrees with the market by log-normal noise, so a few hundred quotes pass the EV threshold
   and the joint Kelly solves over the finishing orders. Median wall time over `races` races.
2. The single-pool Kelly (Smoczynski–Tomkins, exact) against a general-purpose numerical
   optimiser (scipy's SLSQP on the expected log wealth) on the same 18-runner win pools: the
   speed ratio and the largest difference in stakes.

Seeded: the same arguments give the same instances.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np
from scipy import optimize

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.themis.decide import decide
from keiba.themis.exotics import combination_probabilities, finish_orders
from keiba.themis.inputs import Quote
from keiba.themis.sizing import simultaneous_kelly

__all__ = ["FRAMES_18", "run_themis_benchmark", "synthetic_race"]

FRAMES_18 = {
    h: f
    for f, horses in enumerate(
        [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14, 15), (16, 17, 18)], 1
    )
    for h in horses
}


def synthetic_race(
    rng: np.random.Generator, noise: float = 0.25
) -> tuple[dict[int, float], dict[BetType, dict[str, Quote]]]:
    """Model probabilities and a market for 18 runners: the market is the model's view with
    log-normal noise, priced after each bet type's takeout (place and wide as ranges)."""
    p = rng.dirichlet(np.full(18, 1.5))
    q = p * np.exp(rng.normal(0.0, noise, 18))
    q /= q.sum()
    model = {h + 1: float(x) for h, x in enumerate(p)}
    model[18] = 1.0 - math.fsum(v for h, v in model.items() if h != 18)
    market_orders = finish_orders({h + 1: float(x) for h, x in enumerate(q)}, 0.86, 0.72)
    market: dict[BetType, dict[str, Quote]] = {}
    for bet in BetType:
        ranged = bet in (BetType.PLACE, BetType.QUINELLA_PLACE)
        quotes: dict[str, Quote] = {}
        for combination, prob in combination_probabilities(market_orders, bet, FRAMES_18).items():
            fair = float(bet.payout_rate) / prob
            low = max(1.1, round(fair * float(np.exp(rng.normal(0.0, 0.05))), 1))
            high = round(low * 1.6, 1) if ranged else None
            quotes[combination] = Quote(low, high)
        market[bet] = quotes
    return model, market


def _slsqp_kelly(p: list[float], o: list[float]) -> list[float]:
    pi, odds = np.array(p), np.array(o)

    def negative(x: np.ndarray[Any, np.dtype[np.float64]]) -> float:
        wealth = 1.0 - x.sum() + odds * x
        return -float(pi @ np.log(np.maximum(wealth, 1e-300)))

    found = optimize.minimize(
        negative,
        np.full(len(p), 0.001),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * len(p),
        constraints=[{"type": "ineq", "fun": lambda x: 0.999 - x.sum()}],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    return [float(v) for v in found.x]


def run_themis_benchmark(races: int = 20, seed: int = 7) -> dict[str, Any]:
    """Time full decisions and compare the exact single-pool Kelly with SLSQP."""
    rng = np.random.default_rng(seed)
    policy = ThemisConfig()
    times, bets, candidates, quotes = [], [], [], []
    for _ in range(races):
        model, market = synthetic_race(rng)
        started = time.perf_counter()
        decision = decide(model, market, 10_000_000, policy, frames=FRAMES_18)
        times.append(time.perf_counter() - started)
        bets.append(len(decision.bets))
        quotes.append(sum(len(q) for q in market.values()))
        candidates.append(
            len(decision.bets)
            + sum(1 for r in decision.rejections if r.code != "ev_below_threshold")
        )
    exact_times, solver_times, worst = [], [], 0.0
    for _ in range(races):
        model, market = synthetic_race(rng, noise=0.35)
        p = [model[h] for h in range(1, 19)]
        o = [market[BetType.WIN][str(h)].odds for h in range(1, 19)]
        started = time.perf_counter()
        exact = simultaneous_kelly(p, o)
        exact_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        solved = _slsqp_kelly(p, o)
        solver_times.append(time.perf_counter() - started)
        worst = max(worst, max(abs(a - b) for a, b in zip(exact, solved, strict=True)))
    median_exact = statistics.median(exact_times)
    median_solver = statistics.median(solver_times)
    return {
        "races": races,
        "seed": seed,
        "full_decision": {
            "quotes_per_race": statistics.median(quotes),
            "median_candidates": statistics.median(candidates),
            "median_bets": statistics.median(bets),
            "median_ms": round(statistics.median(times) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1),
        },
        "single_pool_kelly": {
            "exact_median_ms": round(median_exact * 1000, 4),
            "slsqp_median_ms": round(median_solver * 1000, 2),
            "speed_ratio": round(median_solver / median_exact, 0),
            "largest_stake_difference": worst,
            "largest_stake_difference_yen_per_million": round(worst * 1_000_000),
        },
    }

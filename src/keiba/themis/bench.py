"""The Themis benchmark behind `keiba bench themis` (figures in docs/benchmarks.md).

1. Full decisions for 18-runner races offering all eight bet types (6,396 quotes): the model
   disagrees with the market by log-normal noise, so about a thousand quotes pass the EV
   threshold and the joint Kelly solves over the 4,896 finishing orders. Wall time (median,
   p99, slowest) of today's engine and, in the same run, of the engine before the
   interior-point solver (`keiba.themis.legacy`), with the largest difference between the two
   solvers' expected log wealth on the same joint problems; then the same races with the EV
   screen off (full Kelly over every offered ticket). `decisions_sha256` digests what every
   one of those decisions buys and rejects (`decision_record`): the same arguments give the
   same digest on any machine, whatever its cores and threads.
2. One pool: a full decision on an 18-runner win pool alone, today's engine and (in the same
   run) the previous one.
3. The single-pool Kelly (Smoczynski–Tomkins, exact, O(k log k)) against the previous O(k²)
   implementation, a general-purpose optimiser (scipy's SLSQP on the expected log wealth) and,
   when it is installed, penaltyblog's `multiple_kelly_criterion`: speed ratios and the largest
   difference in stakes.

Times are wall times with, alongside, the CPU time of the deciding thread (`cpu_time`): on a
shared machine the wall time includes the waits for a core, and the CPU time does not. The
full decisions are timed as a race day makes them: after a first decision, with the process's
heap settled (`keiba.common.heap`), so a collection pauses a call only for what the decisions
themselves left behind; before it, the joint solver's compiled kernels are loaded (or compiled,
where numba's cache has none) by `warm_up`, as a race day does, and both are reported.
Seeded: the same arguments give the same instances.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from scipy import optimize

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.common.heap import settle_heap
from keiba.themis import legacy
from keiba.themis.decide import EXCLUSIVE, Decision, _payoff, _screen, decide
from keiba.themis.exotics import combination_probabilities, finish_orders
from keiba.themis.inputs import BET_TYPES, Quote, validate
from keiba.themis.joint import warm_up
from keiba.themis.sizing import joint_kelly, simultaneous_kelly

__all__ = ["FRAMES_18", "decision_record", "run_themis_benchmark", "synthetic_race"]

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


def _penaltyblog() -> ModuleType | None:
    """penaltyblog's Kelly module when penaltyblog is installed (loaded alone: the package's
    own import pulls in scrapers and plotting)."""
    spec = importlib.util.find_spec("penaltyblog")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "betting" / "kelly.py"
    module_spec = importlib.util.spec_from_file_location("penaltyblog_kelly", path)
    if module_spec is None or module_spec.loader is None:
        return None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _timed(action: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action(*args, **kwargs)
    return time.perf_counter() - started, result


def decision_record(decision: Decision) -> list[list[Any]]:
    """What a race day acts on in a decision: each bet's type, combination and stake in yen,
    then each rejected quote's type, combination and reason code, in the decision's order."""
    return [[b.bet_type.value, b.combination, int(b.stake)] for b in decision.bets] + [
        [r.bet_type.value, r.combination, r.code.value] for r in decision.rejections
    ]


class _Clock:
    """Wall time and the calling thread's CPU time of the calls it times: on a shared machine
    the CPU time leaves out the waits for a core (the engine runs on one thread). The CPU time
    the garbage collector took during each call is kept too: a full collection walks every
    object of the process, so its pause depends on the process, not on the call it lands in."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.collector: list[float] = []
        self._collecting = 0.0
        self._since = 0.0

    def _collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._since = time.thread_time()
        else:
            self._collecting += time.thread_time() - self._since

    def __call__(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._collecting = 0.0
        gc.callbacks.append(self._collection)
        try:
            started, cpu = time.perf_counter(), time.thread_time()
            result = action(*args, **kwargs)
            self.cpu.append(time.thread_time() - cpu)
            self.wall.append(time.perf_counter() - started)
        finally:
            gc.callbacks.remove(self._collection)
        self.collector.append(self._collecting)
        return result

    def collections(self) -> dict[str, float]:
        """The collector's share of the CPU time: in all, its longest pause in one call, and
        the CPU-time percentiles without it."""
        less = [c - g for c, g in zip(self.cpu, self.collector, strict=True)]
        return {
            "total_ms": round(sum(self.collector) * 1000, 2),
            "largest_in_one_call_ms": round(max(self.collector, default=0.0) * 1000, 2),
            **{f"{k}_without": v for k, v in _summary(less).items()},
        }


def _compared(ours: _Clock, previous: _Clock | None) -> dict[str, Any]:
    """Wall-time summary of ours and, with CPU time alongside, of the previous engine and the
    ratios."""
    result: dict[str, Any] = _summary(ours.wall)
    cpu: dict[str, Any] = _summary(ours.cpu)
    if previous is not None:
        result["previous_engine"] = _summary(previous.wall)
        result.update(_ratios(previous.wall, ours.wall))
        cpu["previous_engine"] = _summary(previous.cpu)
        cpu.update(_ratios(previous.cpu, ours.cpu))
    cpu["garbage_collection"] = ours.collections()
    result["cpu_time"] = cpu
    return result


def _repeated(action: Callable[..., Any], *args: Any, times: int = 200) -> float:
    """Seconds per call of a call too short to time once (microseconds)."""
    started = time.perf_counter()
    for _ in range(times):
        action(*args)
    return (time.perf_counter() - started) / times


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "median_ms": round(float(np.median(ms)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(np.max(ms)), 2),
    }


def _expected_log(x: np.ndarray[Any, Any], pi: np.ndarray[Any, Any], payoff: Any) -> float:
    wealth = 1.0 - float(np.sum(x)) + payoff @ x
    live = pi > 0
    return float(pi[live] @ np.log(wealth[live]))


def _objective_gap(model: dict[int, float], market: dict[BetType, dict[str, Quote]]) -> float:
    """|Δ expected log wealth| of the two joint solvers on the race's first joint problem."""
    policy = ThemisConfig()
    race = validate(model, market, 10_000_000, policy, FRAMES_18)
    orders = finish_orders(race.win, policy.exotic_gamma, policy.exotic_delta)
    screened = _screen(race, orders, policy)
    chosen = screened.candidates
    payoff = _payoff(orders, race.offers, chosen, race.frames)
    p, odds = screened.probability[chosen], race.offers.odds[chosen]
    start = np.zeros(chosen.size, dtype=bool)
    kinds = race.offers.kind[chosen]
    for kind in np.unique(kinds).tolist():
        members = np.flatnonzero(kinds == kind)
        exclusive = BET_TYPES[kind] in EXCLUSIVE
        start[members] = simultaneous_kelly(p[members], odds[members]) > 0 if exclusive else True
    pi = orders.probabilities
    ours = joint_kelly(pi, payoff, start=start)
    theirs = legacy.joint_kelly(pi, payoff, start=list(start))
    return abs(_expected_log(ours, pi, payoff) - _expected_log(theirs, pi, payoff))


def _full_decisions(races: int, seed: int, reference: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    policy, open_ = ThemisConfig(), ThemisConfig(ev_screen=False)
    ours, old, unscreened = _Clock(), _Clock(), _Clock()
    bets, candidates, quotes, gaps = [], [], [], []
    digest = hashlib.sha256()
    instances = [synthetic_race(rng) for _ in range(races)]
    warming, _ = _timed(warm_up)  # as a race day does before its first decision
    first, _ = _timed(decide, *instances[0], 10_000_000, policy, frames=FRAMES_18)
    settle_heap()  # as the race-day process does after its first decision
    try:
        for model, market in instances:
            decision = ours(decide, model, market, 10_000_000, policy, frames=FRAMES_18)
            bets.append(len(decision.bets))
            quotes.append(sum(len(q) for q in market.values()))
            candidates.append(
                len(decision.bets)
                + sum(1 for r in decision.rejections if r.code != "ev_below_threshold")
            )
            full_kelly = unscreened(decide, model, market, 10_000_000, open_, frames=FRAMES_18)
            for made in (decision, full_kelly):
                digest.update(json.dumps(decision_record(made)).encode())
            if reference:
                old(legacy.decide, model, market, 10_000_000, policy, frames=FRAMES_18)
                gaps.append(_objective_gap(model, market))
    finally:
        gc.unfreeze()  # the process is its caller's again (a test's, when run in one)
    result: dict[str, Any] = {
        "quotes_per_race": statistics.median(quotes),
        "median_candidates": statistics.median(candidates),
        "median_bets": statistics.median(bets),
        **_compared(ours, old if reference else None),
        "no_ev_screen": _summary(unscreened.wall),
        "warm_up_s": round(warming, 3),
        "first_decision_ms": round(first * 1000, 2),
        "decisions_sha256": digest.hexdigest(),
    }
    if reference:
        result["largest_objective_difference"] = max(gaps)
    return result


def _one_pool(races: int, seed: int, reference: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    policy = ThemisConfig()
    ours, previous = _Clock(), _Clock()
    for _ in range(races):
        model, market = synthetic_race(rng, noise=0.35)
        win = {BetType.WIN: market[BetType.WIN]}
        decide(model, win, 10_000_000, policy)  # the first call of a race warms its caches
        for _ in range(20):
            ours(decide, model, win, 10_000_000, policy)
            if reference:
                previous(legacy.decide, model, win, 10_000_000, policy)
    return _compared(ours, previous if reference else None)


def _ratios(previous: list[float], ours: list[float]) -> dict[str, float]:
    """How many times faster today's engine is: at the median, the 99th percentile, the
    slowest."""
    return {
        "speed_ratio_median": round(statistics.median(previous) / statistics.median(ours), 1),
        "speed_ratio_p99": round(
            float(np.percentile(previous, 99)) / float(np.percentile(ours, 99)), 1
        ),
        "speed_ratio_slowest": round(max(previous) / max(ours), 1),
    }


def _single_pool_kelly(races: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 2)
    penaltyblog = _penaltyblog()
    times: dict[str, list[float]] = {"exact": [], "previous": [], "slsqp": [], "penaltyblog": []}
    worst, worst_pb = 0.0, 0.0
    for _ in range(races):
        model, market = synthetic_race(rng, noise=0.35)
        p = [model[h] for h in range(1, 19)]
        o = [market[BetType.WIN][str(h)].odds for h in range(1, 19)]
        exact = simultaneous_kelly(p, o)
        times["exact"].append(_repeated(simultaneous_kelly, p, o))
        times["previous"].append(_repeated(legacy.simultaneous_kelly, p, o))
        elapsed, solved = _timed(_slsqp_kelly, p, o)
        times["slsqp"].append(elapsed)
        worst = max(worst, max(abs(a - b) for a, b in zip(exact, solved, strict=True)))
        if penaltyblog is not None:
            with warnings.catch_warnings():  # its SLSQP and trust-constr runs warn as they go
                warnings.simplefilter("ignore")
                elapsed, found = _timed(penaltyblog.multiple_kelly_criterion, o, p)
            times["penaltyblog"].append(elapsed)
            worst_pb = max(
                worst_pb, max(abs(a - b) for a, b in zip(exact, found.stakes, strict=True))
            )
    large = _large_pool(min(races, 3), seed)
    median = {k: statistics.median(v) for k, v in times.items() if v}
    result: dict[str, Any] = {
        "exact_median_ms": round(median["exact"] * 1000, 4),
        "previous_median_ms": round(median["previous"] * 1000, 4),
        "slsqp_median_ms": round(median["slsqp"] * 1000, 2),
        "ratio_to_previous": round(median["previous"] / median["exact"], 1),
        "ratio_to_slsqp": round(median["slsqp"] / median["exact"], 0),
        "largest_stake_difference_slsqp": worst,
        "penaltyblog": "not installed",
        "trifecta_pool": large,
    }
    if penaltyblog is not None:
        result["penaltyblog"] = {
            "median_ms": round(median["penaltyblog"] * 1000, 2),
            "ratio": round(median["penaltyblog"] / median["exact"], 0),
            "largest_stake_difference": worst_pb,
        }
    return result


def _large_pool(races: int, seed: int) -> dict[str, Any]:
    """The exact Kelly on a whole trifecta pool (4,896 outcomes): O(k log k) against O(k²)."""
    rng = np.random.default_rng(seed + 3)
    ours, previous, worst = [], [], 0.0
    for _ in range(races):
        model, market = synthetic_race(rng, noise=0.35)
        orders = finish_orders(model, 0.86, 0.72)
        truth = combination_probabilities(orders, BetType.TRIFECTA)
        p = [truth[c] for c in market[BetType.TRIFECTA]]
        o = [q.odds for q in market[BetType.TRIFECTA].values()]
        elapsed, exact = _timed(simultaneous_kelly, np.array(p), np.array(o))
        ours.append(elapsed)
        elapsed, old = _timed(legacy.simultaneous_kelly, p, o)
        previous.append(elapsed)
        worst = max(worst, float(np.max(np.abs(exact - np.array(old)))))
    return {
        "outcomes": 4896,
        "exact_median_ms": round(statistics.median(ours) * 1000, 3),
        "previous_median_ms": round(statistics.median(previous) * 1000, 1),
        "ratio_to_previous": round(statistics.median(previous) / statistics.median(ours), 0),
        "largest_stake_difference": worst,
    }


def run_themis_benchmark(races: int = 20, seed: int = 7, reference: bool = True) -> dict[str, Any]:
    """Time full decisions (today's engine and, with `reference`, the previous one), one pool,
    and the exact single-pool Kelly against its previous version, SLSQP and penaltyblog."""
    return {
        "races": races,
        "seed": seed,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "full_decision": _full_decisions(races, seed, reference),
        "one_pool_decision": _one_pool(races, seed, reference),
        "single_pool_kelly": _single_pool_kelly(races, seed),
    }

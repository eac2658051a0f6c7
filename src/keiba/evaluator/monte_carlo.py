"""Monte Carlo bankroll paths for fractional Kelly under an overestimated edge
(`keiba backtest simulate`).

A season is a sequence of single win bets, one after another (one bet per race, `races ×
bet_share` of them). For each bet the simulator draws decimal odds o (log-uniform on
[`odds_min`, `odds_max`], rounded down to JRA's 0.1 steps) and the bettor's believed expected
return ÊR = `ev_min` + an exponential excess of mean `ev_excess` — the bets a model with an EV
threshold would pick. The edge is measured from the market:

* the market's probability of the horse is m = `market_return` / o (1/odds normalised: a win pool
  with 20% takeout returns 0.80 of the stake at the market's probability);
* the bettor believes p̂ = m + d with p̂·o = ÊR; the truth is p = m + d/k, where k is the
  overestimation factor (k = 1: the model is right; k = 2: the real edge over the market is half
  of the believed one; k = ∞: the model knows nothing beyond the market);
* the stake is ⌊fraction · Kelly(p̂, o) · bankroll⌋ rounded down to `unit_yen`, skipped below
  `min_stake_yen`; a winning ticket pays ⌊stake/100⌋ × (o × 100) yen, all in int64 yen.

Instead of that assumed distribution, the bets can be drawn from an empirical sample
(`MonteCarloParams.empirical`): (believed probability p̂, decimal odds o) pairs, e.g. a backtest's
own Themis bets; each simulated bet resamples one pair uniformly, with ÊR = p̂·o and the same
market-relative truth p = m + (p̂ − m)/k.

Every (fraction, k) scenario sees the same odds, edges and race outcomes (common random numbers,
one uniform per bet), so scenarios differ only by the policy; results are a function of the seed.

Besides the summary table: `fan_chart_data` gives the bankroll quantiles along the season of one
scenario (a fan chart), and `ruin_curve` P(ruin) against the Kelly fraction per overestimate.
A season whose bankroll falls below `ruin_floor_yen` is ruined and stops betting. Sequential
bets only: no simultaneous bets within a race, no per-race or per-day caps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from keiba.common.errors import KeibaError

__all__ = [
    "DRAWDOWN_LEVELS",
    "QUANTILES",
    "RUIN_FRACTIONS",
    "FanChart",
    "MonteCarloError",
    "MonteCarloParams",
    "MonteCarloResult",
    "Paths",
    "Progress",
    "RuinCurve",
    "ScenarioSummary",
    "fan_chart_data",
    "parse_floats",
    "ruin_curve",
    "simulate",
    "simulate_paths",
    "summarise",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DRAWDOWN_LEVELS: tuple[float, ...] = (0.2, 0.3, 0.5)
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
RUIN_FRACTIONS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))
"""The Kelly fractions of the ruin curve: 0.1, 0.2, …, 1.0."""

_LARGEST_EXACT = 2**53 // 100  # a stake fraction × bankroll stays exact in float64

Observer = Callable[[int, IntArray, IntArray, IntArray], None]
"""Called after every bet with (bet index, stakes, bankroll before, bankroll after), each of
shape (scenarios, seasons): for tests and diagnostics."""

Progress = Callable[[int, int], None]
"""Called now and then with (bets simulated, bets in the season)."""


class MonteCarloError(KeibaError, ValueError):
    """The Monte Carlo parameters are inconsistent."""


@dataclass(frozen=True)
class MonteCarloParams:
    """Everything a run depends on; the defaults are the documented run (docs/benchmarks.md)."""

    seasons: int = 10_000
    races: int = 3_454
    """Races per season (JRA 2018 had 3,454)."""
    bet_share: float = 0.3
    """Share of the races with a bet."""
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    overestimates: tuple[float, ...] = (1.0, 1.5, 2.0)
    seed: int = 0
    start_yen: int = 1_000_000
    ruin_floor_yen: int | None = None
    """Ruin is a bankroll below this; None = 1% of the start (never below `min_stake_yen`)."""
    unit_yen: int = 100
    min_stake_yen: int = 100
    max_stake_fraction: float | None = None
    growth_cap: float | None = None
    """Seasons whose bankroll reaches this multiple of the start stop betting (they have won
    beyond any use; keeps yen exact when the edge is large). None: no cap, and an error when a
    bankroll grows too large to stay exact."""
    """Optional cap on one stake, as a fraction of the bankroll (Themis' per-ticket cap)."""
    odds_min: float = 2.0
    odds_max: float = 50.0
    ev_min: float = 1.10
    ev_excess: float = 0.10
    market_return: float = 0.80
    empirical: tuple[tuple[float, float], ...] | None = None
    """(believed probability p̂, decimal odds) pairs to resample the bets from, uniformly, instead
    of the assumed distribution (`odds_min`, `odds_max`, `ev_min` and `ev_excess` are then
    unused); e.g. a backtest's own Themis bets."""

    @property
    def bets(self) -> int:
        return round(self.races * self.bet_share)

    @property
    def floor_yen(self) -> int:
        if self.ruin_floor_yen is not None:
            return self.ruin_floor_yen
        return max(self.min_stake_yen, self.start_yen // 100)

    def validate(self) -> None:
        problems = []
        if self.seasons < 1 or self.bets < 1:
            problems.append(f"need a season and a bet, had {self.seasons}, {self.bets}")
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            problems.append(f"Kelly fractions must be in (0, 1], were {self.fractions}")
        if not self.overestimates or any(not k >= 1 for k in self.overestimates):
            problems.append(f"overestimation factors must be ≥ 1, were {self.overestimates}")
        if self.unit_yen < 100 or self.unit_yen % 100 or self.min_stake_yen % self.unit_yen:
            problems.append("unit_yen must be a multiple of 100 and divide min_stake_yen")
        if self.min_stake_yen < self.unit_yen or self.start_yen < self.min_stake_yen:
            problems.append("need unit_yen ≤ min_stake_yen ≤ start_yen")
        if self.empirical is not None:
            problems.extend(_empirical_problems(self.empirical))
            if not 0 < self.market_return <= 1.0:
                problems.append(f"need 0 < market_return ≤ 1, had {self.market_return}")
        else:
            if not 1.0 < self.odds_min <= self.odds_max:
                problems.append(
                    f"need 1 < odds_min ≤ odds_max, had {self.odds_min}, {self.odds_max}"
                )
            if self.ev_min < 1.0 or self.ev_excess < 0 or not 0 < self.market_return <= self.ev_min:
                problems.append("need ev_min ≥ 1, ev_excess ≥ 0 and 0 < market_return ≤ ev_min")
        if self.growth_cap is not None and not 1 < self.growth_cap <= 1e6:
            problems.append(f"growth_cap must be in (1, 1e6], was {self.growth_cap}")
        if self.max_stake_fraction is not None and not 0 < self.max_stake_fraction <= 1:
            problems.append(f"max_stake_fraction must be in (0, 1], was {self.max_stake_fraction}")
        if not 0 < self.bet_share <= 1:
            problems.append(f"bet_share must be in (0, 1], was {self.bet_share}")
        if problems:
            raise MonteCarloError("; ".join(problems))


def _empirical_problems(pairs: object) -> list[str]:
    """What is wrong with an empirical sample of (believed probability, decimal odds) pairs."""
    what = "the empirical sample must be (believed probability, decimal odds) pairs"
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
        return [f"{what}, was {type(pairs).__name__}"]
    if not pairs:
        return ["the empirical sample is empty: it needs at least one (probability, odds) pair"]
    bad: list[str] = []
    count = 0
    for i, pair in enumerate(pairs):
        problem = _pair_problem(pair)
        if problem is not None:
            count += 1
            if len(bad) < 3:
                bad.append(f"pair {i} {pair!r}: {problem}")
    if not count:
        return []
    more = f" (and {count - len(bad)} more)" if count > len(bad) else ""
    return [f"{what}; {count} of {len(pairs)} are not: {'; '.join(bad)}{more}"]


def _pair_problem(pair: object) -> str | None:
    if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
        return "not a pair"
    p, odds = pair
    if isinstance(p, bool) or isinstance(odds, bool):
        return "not numbers"
    if not isinstance(p, int | float) or not isinstance(odds, int | float):
        return "not numbers"
    if not (math.isfinite(p) and 0 < p <= 1):
        return "the probability must be in (0, 1]"
    if not (math.isfinite(odds) and odds >= 1.0):
        return "the odds must be a finite number ≥ 1.0"
    return None


@dataclass(frozen=True)
class Paths:
    """Per-season outcomes, arrays of shape (scenarios, seasons); scenario i is
    (`fractions[i]`, `overestimates[i]`)."""

    fractions: FloatArray
    overestimates: FloatArray
    terminal_yen: IntArray
    max_drawdown: FloatArray
    ruined: BoolArray
    recovery_bets: IntArray
    """Bets from the trough of the deepest drawdown back to the peak before it; -1 = never."""
    bets_placed: IntArray
    capped: BoolArray | None = None
    """Seasons that reached `growth_cap` × the start and stopped betting (None without a cap)."""


def _scenarios(params: MonteCarloParams) -> tuple[FloatArray, FloatArray]:
    grid = [(f, k) for k in params.overestimates for f in params.fractions]
    return (
        np.array([f for f, _ in grid], dtype=np.float64),
        np.array([k for _, k in grid], dtype=np.float64),
    )


def _payout_per_100(odds: FloatArray) -> IntArray:
    # JRA quotes odds to 0.1 and pays ⌊stake/100⌋ × odds × 100 yen
    return np.floor(odds * 10.0 + 1e-6).astype(np.int64) * 10


def _empirical_pool(params: MonteCarloParams) -> tuple[IntArray, FloatArray] | None:
    """The empirical sample as (payout per 100 yen, believed ÊR = p̂·o) arrays."""
    if params.empirical is None:
        return None
    pairs = np.asarray(params.empirical, dtype=np.float64).reshape(-1, 2)
    pay_per_100 = _payout_per_100(pairs[:, 1])
    return pay_per_100, pairs[:, 0] * (pay_per_100 / 100.0)


def _draw_bets(
    rng: np.random.Generator,
    params: MonteCarloParams,
    pool: tuple[IntArray, FloatArray] | None = None,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """One bet for every season: payout per 100 yen, believed ÊR, the race's uniform."""
    n = params.seasons
    if pool is not None:
        pick = rng.integers(0, pool[0].size, n)
        return pool[0][pick], pool[1][pick], rng.random(n)
    log_odds = rng.uniform(math.log(params.odds_min), math.log(params.odds_max), n)
    pay_per_100 = _payout_per_100(np.exp(log_odds))
    believed_ev = params.ev_min + rng.exponential(params.ev_excess, n)
    # p̂ = ÊR/o ≤ 1 (a Kelly fraction of at most the whole bankroll)
    believed_ev = np.minimum(believed_ev, pay_per_100 / 100.0)
    return pay_per_100, believed_ev, rng.random(n)


def simulate_paths(
    params: MonteCarloParams, observer: Observer | None = None, progress: Progress | None = None
) -> Paths:
    """Run every (fraction, overestimate) scenario over `params.seasons` seasons."""
    params.validate()
    pool = _empirical_pool(params)
    report_every = max(1, params.bets // 100)
    fractions, overestimates = _scenarios(params)
    shape = (fractions.size, params.seasons)
    rng = np.random.default_rng(params.seed)
    unit, min_stake, floor = params.unit_yen, params.min_stake_yen, params.floor_yen
    mr = params.market_return
    inverse_k = (1.0 / overestimates)[:, None]  # k = inf gives 0: no edge over the market

    bankroll = np.full(shape, params.start_yen, dtype=np.int64)
    peak = bankroll.copy()
    max_dd = np.zeros(shape)
    deep_peak = bankroll.copy()  # the peak before the deepest drawdown
    trough_at = np.zeros(shape, dtype=np.int64)
    recovery = np.full(shape, -1, dtype=np.int64)
    ruined = np.zeros(shape, dtype=bool)
    capped = np.zeros(shape, dtype=bool)
    cap = None if params.growth_cap is None else params.start_yen * params.growth_cap
    placed = np.zeros(shape, dtype=np.int64)

    for t in range(params.bets):
        pay_per_100, believed_ev, u = _draw_bets(rng, params, pool)
        odds = pay_per_100 / 100.0
        # (p̂·o − 1)/(o − 1); odds of 1.0 (empirical samples only) never have an edge
        kelly = np.maximum(0.0, (believed_ev - 1.0) / np.maximum(odds - 1.0, 1e-9))
        true_p = (mr + (believed_ev - mr) * inverse_k) / odds
        won = u < true_p  # (scenarios, seasons); the same race outcome for every scenario

        bet_fraction = fractions[:, None] * kelly
        if params.max_stake_fraction is not None:
            bet_fraction = np.minimum(bet_fraction, params.max_stake_fraction)
        units = np.floor(bet_fraction * bankroll / unit).astype(np.int64)
        stake = np.minimum(units * unit, bankroll - bankroll % unit)
        stake[(stake < min_stake) | ruined | capped] = 0
        before = bankroll
        bankroll = bankroll - stake + np.where(won, stake // 100 * pay_per_100, 0)
        placed += stake > 0
        if observer is not None:
            observer(t, stake, before, bankroll)

        peak = np.maximum(peak, bankroll)
        dd = 1.0 - bankroll / peak
        deeper = dd > max_dd
        max_dd = np.where(deeper, dd, max_dd)
        deep_peak = np.where(deeper, peak, deep_peak)
        trough_at = np.where(deeper, t, trough_at)
        recovery[deeper] = -1
        back = (recovery < 0) & (max_dd > 0) & (bankroll >= deep_peak)
        recovery[back] = t - trough_at[back]
        ruined |= bankroll < floor
        if cap is not None:
            capped |= bankroll >= cap
        if t % 64 == 0 and int(bankroll.max()) > _LARGEST_EXACT:
            raise MonteCarloError(
                f"a bankroll passed {_LARGEST_EXACT:,} yen after {t + 1} bets: stakes would lose "
                "exactness (the assumed edge is implausibly large)"
            )
        if progress is not None and ((t + 1) % report_every == 0 or t + 1 == params.bets):
            progress(t + 1, params.bets)

    recovery[max_dd == 0] = 0
    return Paths(
        fractions,
        overestimates,
        bankroll,
        max_dd,
        ruined,
        recovery,
        placed,
        None if cap is None else capped,
    )


@dataclass(frozen=True)
class ScenarioSummary:
    """One row of the table: a Kelly fraction against an overestimation factor."""

    fraction: float
    overestimate: float
    p_ruin: float
    p_drawdown: dict[str, float]
    """P(max drawdown > level), keyed by the level (e.g. "0.2")."""
    terminal_quantiles: dict[str, float]
    """Terminal bankroll / start at the quantiles of QUANTILES (e.g. "0.05")."""
    terminal_mean: float
    recovery_median_bets: float | None
    recovery_p90_bets: float | None
    """Among the seasons whose deepest drawdown was recovered (None when none was)."""
    never_recovered: float
    """Share of seasons still below the peak before their deepest drawdown at the end."""
    mean_bets_placed: float
    p_capped: float | None = None
    """Share of seasons that reached the growth cap (None without a cap)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(paths: Paths, start_yen: int) -> list[ScenarioSummary]:
    rows = []
    for i in range(paths.fractions.size):
        wealth = paths.terminal_yen[i] / start_yen
        dd = paths.max_drawdown[i]
        recovery = paths.recovery_bets[i]
        recovered = recovery[(recovery >= 0) & (dd > 0)]
        rows.append(
            ScenarioSummary(
                fraction=float(paths.fractions[i]),
                overestimate=float(paths.overestimates[i]),
                p_ruin=float(np.mean(paths.ruined[i])),
                p_drawdown={str(level): float(np.mean(dd > level)) for level in DRAWDOWN_LEVELS},
                terminal_quantiles={
                    str(q): float(v)
                    for q, v in zip(QUANTILES, np.quantile(wealth, QUANTILES), strict=True)
                },
                terminal_mean=float(np.mean(wealth)),
                recovery_median_bets=float(np.median(recovered)) if recovered.size else None,
                recovery_p90_bets=float(np.quantile(recovered, 0.9)) if recovered.size else None,
                never_recovered=float(np.mean(recovery < 0)),
                mean_bets_placed=float(np.mean(paths.bets_placed[i])),
                p_capped=None if paths.capped is None else float(np.mean(paths.capped[i])),
            )
        )
    return rows


@dataclass(frozen=True)
class MonteCarloResult:
    params: MonteCarloParams
    scenarios: list[ScenarioSummary] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        p = asdict(self.params)
        p["bets"] = self.params.bets
        p["ruin_floor_yen"] = self.params.floor_yen
        if self.params.empirical is not None:
            p["empirical"] = _empirical_summary(self.params)
        return {"params": p, "scenarios": [s.as_dict() for s in self.scenarios]}


def _empirical_summary(params: MonteCarloParams) -> dict[str, Any]:
    """The empirical sample in a few figures (the pairs themselves can be thousands)."""
    pool = _empirical_pool(params)
    assert pool is not None
    odds, ev = pool[0] / 100.0, pool[1]
    return {
        "pairs": int(odds.size),
        "odds_median": float(np.median(odds)),
        "odds_mean": float(np.mean(odds)),
        "believed_ev_mean": float(np.mean(ev)),
        "believed_ev_median": float(np.median(ev)),
    }


def simulate(params: MonteCarloParams, progress: Progress | None = None) -> MonteCarloResult:
    """Simulate and summarise: one `ScenarioSummary` per (overestimate, fraction)."""
    return MonteCarloResult(
        params, summarise(simulate_paths(params, progress=progress), params.start_yen)
    )


@dataclass(frozen=True)
class FanChart:
    """Bankroll quantiles along the season of one (fraction, overestimate) scenario."""

    fraction: float
    overestimate: float
    start_yen: int
    bet_index: IntArray
    """Bets drawn so far (placed or skipped) at each point: 0 (the start), …, `params.bets`."""
    quantiles: tuple[float, ...]
    bankroll_yen: FloatArray
    """Shape (quantiles, points): the bankroll's quantile over the seasons at each point."""
    p_ruin: float
    seasons: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "overestimate": self.overestimate,
            "start_yen": self.start_yen,
            "bet_index": self.bet_index.tolist(),
            "quantiles": list(self.quantiles),
            "bankroll_yen": self.bankroll_yen.tolist(),
            "p_ruin": self.p_ruin,
            "seasons": self.seasons,
        }


def fan_chart_data(
    params: MonteCarloParams,
    fraction: float,
    overestimate: float,
    points: int = 60,
    quantiles: Sequence[float] = QUANTILES,
    progress: Progress | None = None,
) -> FanChart:
    """The bankroll's `quantiles` over the seasons at about `points` bets evenly spread over the
    season, for the single scenario (`fraction`, `overestimate`) of `params` (its own fractions
    and overestimates are ignored; the random numbers are those of the full grid)."""
    qs = tuple(float(q) for q in quantiles)
    if points < 1:
        raise MonteCarloError(f"a fan chart needs at least one point, had {points}")
    if not qs or any(not 0 <= q <= 1 for q in qs) or list(qs) != sorted(qs):
        raise MonteCarloError(f"quantiles must be increasing, in [0, 1], were {qs}")
    single = replace(params, fractions=(float(fraction),), overestimates=(float(overestimate),))
    single.validate()
    marks = np.unique(np.linspace(0, single.bets, points + 1).round().astype(np.int64))
    column = {int(m): i for i, m in enumerate(marks)}
    values = np.empty((len(qs), marks.size), dtype=np.float64)
    values[:, 0] = single.start_yen

    def record(t: int, stake: IntArray, before: IntArray, after: IntArray) -> None:
        i = column.get(t + 1)
        if i is not None:
            values[:, i] = np.quantile(after[0], qs)

    paths = simulate_paths(single, observer=record, progress=progress)
    return FanChart(
        fraction=float(fraction),
        overestimate=float(overestimate),
        start_yen=single.start_yen,
        bet_index=marks,
        quantiles=qs,
        bankroll_yen=values,
        p_ruin=float(np.mean(paths.ruined[0])),
        seasons=single.seasons,
    )


@dataclass(frozen=True)
class RuinCurve:
    """P(ruin) and the median terminal wealth against the Kelly fraction, per overestimate."""

    fractions: tuple[float, ...]
    overestimates: tuple[float, ...]
    p_ruin: FloatArray
    """Shape (overestimates, fractions)."""
    median_terminal: FloatArray
    """Terminal bankroll / start, median over the seasons; shape (overestimates, fractions)."""
    seasons: int
    bets: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "fractions": list(self.fractions),
            "overestimates": list(self.overestimates),
            "p_ruin": self.p_ruin.tolist(),
            "median_terminal": self.median_terminal.tolist(),
            "seasons": self.seasons,
            "bets": self.bets,
        }


def ruin_curve(
    params: MonteCarloParams,
    fractions: Sequence[float] = RUIN_FRACTIONS,
    progress: Progress | None = None,
) -> RuinCurve:
    """P(ruin) for each Kelly fraction in `fractions` (default 0.1, 0.2, …, 1.0) and each of
    `params.overestimates` (`params.fractions` is ignored)."""
    grid = replace(params, fractions=tuple(float(f) for f in fractions))
    paths = simulate_paths(grid, progress=progress)
    shape = (len(grid.overestimates), len(grid.fractions))
    wealth = paths.terminal_yen / grid.start_yen
    return RuinCurve(
        fractions=grid.fractions,
        overestimates=grid.overestimates,
        p_ruin=paths.ruined.mean(axis=1).reshape(shape),
        median_terminal=np.median(wealth, axis=1).reshape(shape),
        seasons=grid.seasons,
        bets=grid.bets,
    )


def parse_floats(text: str | Sequence[float], what: str) -> tuple[float, ...]:
    """ "0.1,0.25" → (0.1, 0.25); "inf" is allowed (an overestimate of ∞: no real edge)."""
    if not isinstance(text, str):
        return tuple(float(x) for x in text)
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise MonteCarloError(f"{what} must be comma-separated numbers, was {text!r}") from e
    if not values:
        raise MonteCarloError(f"{what} is empty")
    return values

"""Monte Carlo bankroll paths for fractional Kelly under an overestimated edge (`keiba simulate`).

A season is a sequence of single win bets, one after another (one bet per race, `races ×
bet_share` of them). For each bet the simulator draws decimal odds o (log-uniform on
[`odds_min`, `odds_max`], rounded down to JRA's 0.1 steps) and the bettor's believed expected
return ÊR = `ev_min` + an exponential excess of mean `ev_excess` — the bets a model with an EV
threshold would pick. The edge is measured from the market (DOMAIN.md §6; seed §5 hypothesis B):

* the market's probability of the horse is m = `market_return` / o (1/odds normalised: a win pool
  with 20% takeout returns 0.80 of the stake at the market's probability);
* the bettor believes p̂ = m + d with p̂·o = ÊR; the truth is p = m + d/k, where k is the
  overestimation factor (k = 1: the model is right; k = 2: the real edge over the market is half
  of the believed one; k = ∞: the model knows nothing beyond the market);
* the stake is ⌊fraction · Kelly(p̂, o) · bankroll⌋ rounded down to `unit_yen`, skipped below
  `min_stake_yen`; a winning ticket pays ⌊stake/100⌋ × (o × 100) yen, all in int64 yen.

Every (fraction, k) scenario sees the same odds, edges and race outcomes (common random numbers,
one uniform per bet), so scenarios differ only by the policy; results are a function of the seed.
A season whose bankroll falls below `ruin_floor_yen` is ruined and stops betting. Sequential
bets only: no simultaneous bets within a race, no per-race or per-day caps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from keiba.common.errors import KeibaError

__all__ = [
    "DRAWDOWN_LEVELS",
    "QUANTILES",
    "MonteCarloError",
    "MonteCarloParams",
    "MonteCarloResult",
    "Paths",
    "ScenarioSummary",
    "parse_floats",
    "simulate",
    "simulate_paths",
    "summarise",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DRAWDOWN_LEVELS: tuple[float, ...] = (0.2, 0.3, 0.5)
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)

_LARGEST_EXACT = 2**53 // 100  # a stake fraction × bankroll stays exact in float64

Observer = Callable[[int, IntArray, IntArray, IntArray], None]
"""Called after every bet with (bet index, stakes, bankroll before, bankroll after), each of
shape (scenarios, seasons): for tests and diagnostics."""


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
    """Optional cap on one stake, as a fraction of the bankroll (Themis' per-ticket cap)."""
    odds_min: float = 2.0
    odds_max: float = 50.0
    ev_min: float = 1.10
    ev_excess: float = 0.10
    market_return: float = 0.80

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
        if not 1.0 < self.odds_min <= self.odds_max:
            problems.append(f"need 1 < odds_min ≤ odds_max, had {self.odds_min}, {self.odds_max}")
        if self.ev_min < 1.0 or self.ev_excess < 0 or not 0 < self.market_return <= self.ev_min:
            problems.append("need ev_min ≥ 1, ev_excess ≥ 0 and 0 < market_return ≤ ev_min")
        if self.max_stake_fraction is not None and not 0 < self.max_stake_fraction <= 1:
            problems.append(f"max_stake_fraction must be in (0, 1], was {self.max_stake_fraction}")
        if not 0 < self.bet_share <= 1:
            problems.append(f"bet_share must be in (0, 1], was {self.bet_share}")
        if problems:
            raise MonteCarloError("; ".join(problems))


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


def _scenarios(params: MonteCarloParams) -> tuple[FloatArray, FloatArray]:
    grid = [(f, k) for k in params.overestimates for f in params.fractions]
    return (
        np.array([f for f, _ in grid], dtype=np.float64),
        np.array([k for _, k in grid], dtype=np.float64),
    )


def _draw_bets(
    rng: np.random.Generator, params: MonteCarloParams
) -> tuple[IntArray, FloatArray, FloatArray]:
    """One bet for every season: payout per 100 yen, believed ÊR, the race's uniform."""
    n = params.seasons
    log_odds = rng.uniform(math.log(params.odds_min), math.log(params.odds_max), n)
    # JRA quotes odds to 0.1 and pays ⌊stake/100⌋ × odds × 100 yen
    pay_per_100 = np.floor(np.exp(log_odds) * 10.0 + 1e-6).astype(np.int64) * 10
    believed_ev = params.ev_min + rng.exponential(params.ev_excess, n)
    # p̂ = ÊR/o ≤ 1 (a Kelly fraction of at most the whole bankroll)
    believed_ev = np.minimum(believed_ev, pay_per_100 / 100.0)
    return pay_per_100, believed_ev, rng.random(n)


def simulate_paths(params: MonteCarloParams, observer: Observer | None = None) -> Paths:
    """Run every (fraction, overestimate) scenario over `params.seasons` seasons."""
    params.validate()
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
    placed = np.zeros(shape, dtype=np.int64)

    for t in range(params.bets):
        pay_per_100, believed_ev, u = _draw_bets(rng, params)
        odds = pay_per_100 / 100.0
        kelly = np.maximum(0.0, (believed_ev - 1.0) / (odds - 1.0))  # (p̂·o − 1)/(o − 1)
        true_p = (mr + (believed_ev - mr) * inverse_k) / odds
        won = u < true_p  # (scenarios, seasons); the same race outcome for every scenario

        bet_fraction = fractions[:, None] * kelly
        if params.max_stake_fraction is not None:
            bet_fraction = np.minimum(bet_fraction, params.max_stake_fraction)
        units = np.floor(bet_fraction * bankroll / unit).astype(np.int64)
        stake = np.minimum(units * unit, bankroll - bankroll % unit)
        stake[(stake < min_stake) | ruined] = 0
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
        if t % 64 == 0 and int(bankroll.max()) > _LARGEST_EXACT:
            raise MonteCarloError(
                f"a bankroll passed {_LARGEST_EXACT:,} yen after {t + 1} bets: stakes would lose "
                "exactness (the assumed edge is implausibly large)"
            )

    recovery[max_dd == 0] = 0
    return Paths(fractions, overestimates, bankroll, max_dd, ruined, recovery, placed)


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
        return {"params": p, "scenarios": [s.as_dict() for s in self.scenarios]}


def simulate(params: MonteCarloParams) -> MonteCarloResult:
    """Simulate and summarise: one `ScenarioSummary` per (overestimate, fraction)."""
    return MonteCarloResult(params, summarise(simulate_paths(params), params.start_yen))


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

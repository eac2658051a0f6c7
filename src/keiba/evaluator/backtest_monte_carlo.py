"""The Monte Carlo of a backtest run: its own bets resampled, or the assumed distribution.

`empirical_sample` turns a run's Themis bets into (believed probability, decision odds) pairs and
a season length; `run_monte_carlo` runs the table (Kelly fractions × edge overestimates), the
fan charts at the run's Kelly fraction and the ruin curve for the report and for
`keiba simulate --from-backtest`. With fewer than `MIN_EMPIRICAL_BETS` bets it falls back to the
assumed distribution of `keiba simulate` and says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from keiba.common.errors import KeibaError
from keiba.evaluator.backtest_frames import BacktestRun
from keiba.evaluator.monte_carlo import (
    FanChart,
    MonteCarloParams,
    MonteCarloResult,
    RuinCurve,
    fan_chart_data,
    ruin_curve,
    simulate,
)

__all__ = [
    "DEFAULT_KELLY_FRACTION",
    "DEFAULT_SEASONS",
    "FAN_OVERESTIMATES",
    "GROWTH_CAP",
    "MC_FRACTIONS",
    "MC_OVERESTIMATES",
    "MIN_EMPIRICAL_BETS",
    "EmpiricalSample",
    "MonteCarloBundle",
    "Progress",
    "TooFewBetsError",
    "empirical_sample",
    "run_kelly_fraction",
    "run_monte_carlo",
    "themis_bet_count",
]

MIN_EMPIRICAL_BETS = 30
"""Fewer Themis bets than this: the Monte Carlo uses the assumed distribution instead."""
DEFAULT_SEASONS = 2_000
MC_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
MC_OVERESTIMATES: tuple[float, ...] = (1.0, 1.5, 2.0)
FAN_OVERESTIMATES: tuple[float, ...] = (1.0, 2.0)
DEFAULT_KELLY_FRACTION = 0.25
GROWTH_CAP = 1_000.0
"""Simulated seasons stop betting once the bankroll is this multiple of the start (a large
believed edge taken at face value (×1) at full Kelly would otherwise outgrow exact yen)."""

Progress = Callable[[str, int, int], None]
"""(stage, done, total), as `keiba.cli.common.progress_bar` takes it."""


class TooFewBetsError(KeibaError):
    """The run has too few Themis bets to resample."""


# ---------------------------------------------------------------- the run's Themis bets


@dataclass(frozen=True)
class EmpiricalSample:
    """A run's Themis bets as (believed probability, decision odds) pairs, and its season."""

    pairs: tuple[tuple[float, float], ...]
    period_days: int
    bets_per_season: int
    """The run's bets per 365 days of its period (the run's own count for a one-year run)."""

    @property
    def bets(self) -> int:
        return len(self.pairs)


def _period_days(run: BacktestRun) -> int:
    period = run.result.get("period") or {}
    try:
        first = dt.date.fromisoformat(str(period["from"]))
        last = dt.date.fromisoformat(str(period["to"]))
    except (KeyError, ValueError):
        dates = run.daily["race_date"].drop_nulls()
        if dates.is_empty():
            return 365
        first, last = dates.min(), dates.max()  # type: ignore[assignment]
    return max(1, (last - first).days + 1)


def empirical_sample(
    run: BacktestRun, *, strategy: str = "themis", minimum: int = MIN_EMPIRICAL_BETS
) -> EmpiricalSample:
    """The non-refunded bets of `strategy` with a probability and decision odds; raises
    `TooFewBetsError` when there are fewer than `minimum`."""
    own = run.bets.filter(
        (pl.col("strategy") == strategy)
        & ~pl.col("refund").fill_null(False)
        & pl.col("probability").is_not_null()
        & pl.col("decision_odds").is_not_null()
    ).sort("race_seq", "bet_type", "combination")
    own = own.filter(pl.col("probability").is_finite() & pl.col("decision_odds").is_finite())
    pairs = tuple(
        (float(p), float(o))
        for p, o in zip(own["probability"].to_list(), own["decision_odds"].to_list(), strict=True)
    )
    if len(pairs) < minimum:
        raise TooFewBetsError(
            f"the run {run.directory.name} has {len(pairs)} {strategy} bet(s) with a probability "
            f"and decision odds, fewer than {minimum}: too few to resample as the Monte Carlo's "
            "bets (run `keiba simulate` without --from-backtest for the assumed distribution)"
        )
    days = _period_days(run)
    return EmpiricalSample(pairs, days, max(1, round(len(pairs) * 365 / days)))


def run_kelly_fraction(result: Mapping[str, Any]) -> float | None:
    """The Kelly fraction the run's Themis used, when result.json records it."""
    for holder in (result, result.get("policy") or {}, result.get("themis") or {}):
        value = holder.get("kelly_fraction") if isinstance(holder, Mapping) else None
        if isinstance(value, int | float) and 0 < value <= 1:
            return float(value)
    return None


# ---------------------------------------------------------------- the Monte Carlo


@dataclass(frozen=True)
class MonteCarloBundle:
    """The Monte Carlo parts of the page."""

    result: MonteCarloResult
    fans: tuple[FanChart, ...]
    ruin: RuinCurve
    source: str
    """One sentence: what the bets were drawn from."""
    empirical: bool
    kelly_fraction: float


def run_monte_carlo(
    run: BacktestRun,
    *,
    seasons: int = DEFAULT_SEASONS,
    seed: int = 0,
    kelly_fraction: float | None = None,
    base: MonteCarloParams | None = None,
    progress: Progress | None = None,
) -> MonteCarloBundle:
    """The table (Kelly fractions × overestimates), the fan charts at the run's Kelly fraction
    (× `FAN_OVERESTIMATES`) and the ruin curve, on the run's Themis bets when there are enough.

    `base` carries the sizing settings (unit, minimum stake, EV threshold of the assumed
    distribution); seasons, seed, start, fractions and the season length are set here, and a
    growth cap of `GROWTH_CAP` unless `base` has one.
    """
    fraction = kelly_fraction or run_kelly_fraction(run.result) or DEFAULT_KELLY_FRACTION
    base = base or MonteCarloParams()
    params = replace(
        base,
        growth_cap=base.growth_cap or GROWTH_CAP,
        seasons=seasons,
        seed=seed,
        start_yen=int(run.result.get("start_yen") or base.start_yen),
        fractions=tuple(sorted({*MC_FRACTIONS, fraction})),
        overestimates=MC_OVERESTIMATES,
    )
    try:
        sample = empirical_sample(run)
    except TooFewBetsError:
        themis = themis_bet_count(run)
        params = replace(params, empirical=None)
        source = (
            f"the assumed distribution of `keiba simulate` (odds log-uniform on "
            f"[{params.odds_min:g}, {params.odds_max:g}], believed EV {params.ev_min:.2f} + an "
            f"exponential excess of mean {params.ev_excess:.2f}; {params.bets:,} bets a season): "
            f"the run has only {themis} Themis bet(s), fewer than {MIN_EMPIRICAL_BETS}, too few "
            "to resample"
        )
        empirical = False
    else:
        params = replace(params, empirical=sample.pairs, races=sample.bets_per_season, bet_share=1)
        source = (
            f"the run's own {sample.bets:,} Themis bets (believed probability, decision odds), "
            f"resampled uniformly; a season is {sample.bets_per_season:,} bets (the run's "
            f"bets per 365 days of its {sample.period_days}-day period)"
        )
        empirical = True

    def stage(name: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        progress(name, 0, params.bets)
        return lambda done, total: progress(name, done, total)

    result = simulate(params, progress=stage("MC table"))
    fans = tuple(
        fan_chart_data(params, fraction, k, progress=stage(f"MC fan ×{k:g}"))
        for k in FAN_OVERESTIMATES
    )
    ruin = ruin_curve(params, progress=stage("MC ruin"))
    return MonteCarloBundle(result, fans, ruin, source, empirical, fraction)


def themis_bet_count(run: BacktestRun) -> int:
    return run.bets.filter(
        (pl.col("strategy") == "themis") & ~pl.col("refund").fill_null(False)
    ).height

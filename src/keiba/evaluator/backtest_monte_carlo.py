"""The Monte Carlo of a backtest run: its own Themis bets, resampled as they were placed.

`run_monte_carlo` simulates seasons in which every bet is one of the run's Themis bets drawn
at random (`run_bets`): its stake as a share of the bankroll it was sized from, and its real
payout (0 when it lost). Nothing is assumed about an edge: the seasons win or lose as the run's
own bets did, reshuffled and resampled, so a strategy that lost money shows it. Another Kelly
fraction scales the run's stakes by its ratio to the run's fraction. It gives the table (Kelly
fractions), the fan chart at the run's fraction and the ruin curve for the report; with fewer
than `MIN_EMPIRICAL_BETS` bets nothing is simulated, and the bundle says so.

`empirical_sample` gives the same bets as (believed probability, decision odds) pairs for
`keiba backtest simulate --from-backtest`, whose what-if takes the believed edge over the market.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from keiba.common.errors import KeibaError
from keiba.evaluator.backtest_frames import BacktestRun
from keiba.evaluator.monte_carlo import (
    QUANTILES,
    RUIN_FRACTIONS,
    FanChart,
    MonteCarloParams,
    MonteCarloResult,
    Paths,
    RuinCurve,
    summarise,
)

__all__ = [
    "DEFAULT_KELLY_FRACTION",
    "DEFAULT_SEASONS",
    "FAN_POINTS",
    "GROWTH_CAP",
    "MC_FRACTIONS",
    "MIN_EMPIRICAL_BETS",
    "EmpiricalSample",
    "MonteCarloBundle",
    "Progress",
    "RunBets",
    "TooFewBetsError",
    "empirical_sample",
    "run_bets",
    "run_kelly_fraction",
    "run_monte_carlo",
    "simulate_seasons",
    "themis_bet_count",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

MIN_EMPIRICAL_BETS = 30
"""Fewer Themis bets than this: too few to resample, no Monte Carlo (never an assumed edge)."""
DEFAULT_SEASONS = 2_000
MC_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
DEFAULT_KELLY_FRACTION = 0.25
FAN_POINTS = 60
"""Points along the season at which the fan chart takes the bankroll's quantiles."""
GROWTH_CAP = 1_000.0
"""Simulated seasons stop betting once the bankroll is this multiple of the start (a run that
won big, resampled at full Kelly, would otherwise outgrow exact yen)."""

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
            "bets (run `keiba backtest simulate` without --from-backtest for the assumed "
            "distribution)"
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


# ---------------------------------------------------------------- the run's bets, as placed


@dataclass(frozen=True)
class RunBets:
    """A run's Themis bets as they were placed and settled: what a simulated season draws."""

    stake_fraction: FloatArray
    """Each bet's stake over the bankroll it was sized from."""
    pay_per_100: IntArray
    """Yen each bet returned per 100 yen staked: its real payout, 0 when it lost."""
    pairs: tuple[tuple[float, float], ...]
    """(believed probability, decision odds) of the same bets, to describe them."""
    period_days: int
    bets_per_season: int

    @property
    def bets(self) -> int:
        return int(self.stake_fraction.size)


def _with_bankroll(own: pl.DataFrame, start_yen: int) -> pl.DataFrame:
    """`own` (one strategy's rows) with `bankroll_yen` filled where the run did not record it:
    the start plus the net of the strategy's earlier races."""
    before = (
        own.group_by("race_seq")
        .agg((pl.col("paid_yen") - pl.col("stake_yen")).sum().alias("net"))
        .sort("race_seq")
        .select("race_seq", (start_yen + pl.col("net").cum_sum() - pl.col("net")).alias("before"))
    )
    return own.join(before, on="race_seq", how="left").with_columns(
        pl.coalesce("bankroll_yen", "before").alias("bankroll_yen")
    )


def run_bets(
    run: BacktestRun, *, strategy: str = "themis", minimum: int = MIN_EMPIRICAL_BETS
) -> RunBets:
    """The non-refunded bets of `strategy` with a probability, decision odds and a positive
    bankroll; raises `TooFewBetsError` when there are fewer than `minimum`."""
    start_yen = int(run.result.get("start_yen") or 0)
    own = _with_bankroll(run.bets.filter(pl.col("strategy") == strategy), start_yen)
    own = own.filter(
        ~pl.col("refund").fill_null(False)
        & pl.col("probability").is_finite()
        & pl.col("decision_odds").is_finite()
        & (pl.col("stake_yen") > 0)
        & (pl.col("bankroll_yen") > 0)
    ).sort("race_seq", "bet_type", "combination")
    if own.height < minimum:
        raise TooFewBetsError(
            f"the run {run.directory.name} has {own.height} {strategy} bet(s) with a stake and a "
            f"result, fewer than {minimum}: too few to resample"
        )
    stake = own["stake_yen"].to_numpy().astype(np.int64)
    days = _period_days(run)
    return RunBets(
        stake_fraction=stake / own["bankroll_yen"].to_numpy().astype(np.float64),
        pay_per_100=own["paid_yen"].to_numpy().astype(np.int64) * 100 // stake,
        pairs=tuple(zip(own["probability"].to_list(), own["decision_odds"].to_list(), strict=True)),
        period_days=days,
        bets_per_season=max(1, round(own.height * 365 / days)),
    )


# ---------------------------------------------------------------- the seasons


@dataclass
class _Tracker:
    """Drawdown, recovery, ruin and the growth cap of every (scenario, season)."""

    bankroll: IntArray
    peak: IntArray
    max_dd: FloatArray
    deep_peak: IntArray
    trough_at: IntArray
    recovery: IntArray
    ruined: BoolArray
    capped: BoolArray
    placed: IntArray

    @classmethod
    def start(cls, shape: tuple[int, int], start_yen: int) -> _Tracker:
        bankroll = np.full(shape, start_yen, dtype=np.int64)
        zeros = np.zeros(shape, dtype=np.int64)
        return cls(
            bankroll,
            bankroll.copy(),
            np.zeros(shape),
            bankroll.copy(),
            zeros.copy(),
            np.full(shape, -1, dtype=np.int64),
            np.zeros(shape, dtype=bool),
            np.zeros(shape, dtype=bool),
            zeros.copy(),
        )

    def settle(self, t: int, bankroll: IntArray, stake: IntArray, floor: int, cap: float) -> None:
        self.bankroll = bankroll
        self.placed += stake > 0
        self.peak = np.maximum(self.peak, bankroll)
        dd = 1.0 - bankroll / self.peak
        deeper = dd > self.max_dd
        self.max_dd = np.where(deeper, dd, self.max_dd)
        self.deep_peak = np.where(deeper, self.peak, self.deep_peak)
        self.trough_at = np.where(deeper, t, self.trough_at)
        self.recovery[deeper] = -1
        back = (self.recovery < 0) & (self.max_dd > 0) & (bankroll >= self.deep_peak)
        self.recovery[back] = t - self.trough_at[back]
        self.ruined |= bankroll < floor
        self.capped |= bankroll >= cap

    def paths(self, fractions: FloatArray) -> Paths:
        self.recovery[self.max_dd == 0] = 0
        return Paths(
            fractions,
            np.ones_like(fractions),
            self.bankroll,
            self.max_dd,
            self.ruined,
            self.recovery,
            self.placed,
            self.capped,
        )


def simulate_seasons(
    bets: RunBets,
    params: MonteCarloParams,
    fractions: FloatArray,
    run_fraction: float,
    on_bet: Callable[[int, IntArray], None] | None = None,
) -> Paths:
    """Every season of every Kelly fraction in `fractions`: each bet resamples one of the run's
    bets, stakes its stake fraction × fraction / `run_fraction` of the bankroll (rounded down to
    the unit) and returns its real payout. `on_bet(t, bankroll)` sees each bet's outcome."""
    scales = fractions / run_fraction
    rng = np.random.default_rng(params.seed)
    unit, floor = params.unit_yen, params.floor_yen
    cap = params.start_yen * (params.growth_cap or GROWTH_CAP)
    track = _Tracker.start((scales.size, params.seasons), params.start_yen)
    for t in range(params.bets):
        pick = rng.integers(0, bets.bets, params.seasons)
        bankroll = track.bankroll
        share = scales[:, None] * bets.stake_fraction[pick][None, :]
        # the epsilon keeps a share that is a whole number of units in float from losing one
        units = np.floor(share * bankroll / unit + 1e-9).astype(np.int64)
        stake = np.minimum(units * unit, bankroll - bankroll % unit)
        stake[(stake < params.min_stake_yen) | track.ruined | track.capped] = 0
        after = bankroll - stake + stake // 100 * bets.pay_per_100[pick][None, :]
        track.settle(t, after, stake, floor, cap)
        if on_bet is not None:
            on_bet(t, after)
    return track.paths(fractions)


# ---------------------------------------------------------------- the Monte Carlo


@dataclass(frozen=True)
class MonteCarloBundle:
    """The Monte Carlo parts of the page; without enough bets, nothing was simulated (no
    scenarios, no fan, an empty ruin curve) and `source` says why."""

    result: MonteCarloResult
    fans: tuple[FanChart, ...]
    ruin: RuinCurve
    source: str
    """One sentence: what the bets were drawn from, or why nothing was simulated."""
    empirical: bool
    """Simulated on the run's own bets (False: not simulated at all)."""
    kelly_fraction: float


def _params(run: BacktestRun, base: MonteCarloParams, **settings: Any) -> MonteCarloParams:
    return replace(
        base,
        growth_cap=base.growth_cap or GROWTH_CAP,
        start_yen=int(run.result.get("start_yen") or base.start_yen),
        overestimates=(1.0,),
        **settings,
    )


def _not_simulated(count: int, params: MonteCarloParams, fraction: float) -> MonteCarloBundle:
    source = (
        f"nothing: the run has {count} Themis bet(s), fewer than {MIN_EMPIRICAL_BETS}, too few "
        "to resample, so no bankroll risk is simulated (bets drawn from an assumed edge would "
        "show a growth this run never measured)"
    )
    empty = np.zeros((0, 0))
    ruin = RuinCurve((), (), empty, empty, params.seasons, 0)
    return MonteCarloBundle(
        MonteCarloResult(replace(params, empirical=None)), (), ruin, source, False, fraction
    )


def run_monte_carlo(
    run: BacktestRun,
    *,
    seasons: int = DEFAULT_SEASONS,
    seed: int = 0,
    kelly_fraction: float | None = None,
    base: MonteCarloParams | None = None,
    progress: Progress | None = None,
) -> MonteCarloBundle:
    """Seasons of the run's own Themis bets, resampled with their stake fractions and real
    payouts: the table (`MC_FRACTIONS` and the run's Kelly fraction), the fan chart at the run's
    fraction and the ruin curve (`RUIN_FRACTIONS`); the stakes of another Kelly fraction are
    the run's scaled by it over the run's. Fewer than `MIN_EMPIRICAL_BETS` bets: nothing is
    simulated. `base` carries the unit and minimum stake."""
    fraction = kelly_fraction or run_kelly_fraction(run.result) or DEFAULT_KELLY_FRACTION
    table = tuple(sorted({*MC_FRACTIONS, fraction}))
    params = _params(run, base or MonteCarloParams(), seasons=seasons, seed=seed, fractions=table)
    bets = run_bets(run, minimum=0)
    if bets.bets < MIN_EMPIRICAL_BETS:
        return _not_simulated(bets.bets, params, fraction)
    params = replace(params, empirical=bets.pairs, races=bets.bets_per_season, bet_share=1)
    params.validate()
    fractions = np.array(sorted({*RUIN_FRACTIONS, *table}), dtype=np.float64)
    at = int(np.flatnonzero(fractions == fraction)[0])
    marks = np.unique(np.linspace(0, params.bets, FAN_POINTS + 1).round().astype(np.int64))
    column = {int(m): i for i, m in enumerate(marks)}
    fan = np.empty((len(QUANTILES), marks.size))
    fan[:, 0] = params.start_yen
    every = max(1, params.bets // 100)

    def on_bet(t: int, bankroll: IntArray) -> None:
        if t + 1 in column:
            fan[:, column[t + 1]] = np.quantile(bankroll[at], QUANTILES)
        if progress is not None and ((t + 1) % every == 0 or t + 1 == params.bets):
            progress("Monte Carlo", t + 1, params.bets)

    paths = simulate_seasons(bets, params, fractions, fraction, on_bet)
    return MonteCarloBundle(
        MonteCarloResult(
            params, [s for s in summarise(paths, params.start_yen) if s.fraction in table]
        ),
        (_fan(paths, at, marks, fan, params),),
        _ruin(paths, params),
        _source(bets),
        True,
        fraction,
    )


def _fan(
    paths: Paths, at: int, marks: IntArray, values: FloatArray, params: MonteCarloParams
) -> FanChart:
    return FanChart(
        fraction=float(paths.fractions[at]),
        overestimate=1.0,
        start_yen=params.start_yen,
        bet_index=marks,
        quantiles=QUANTILES,
        bankroll_yen=values,
        p_ruin=float(np.mean(paths.ruined[at])),
        seasons=params.seasons,
    )


def _ruin(paths: Paths, params: MonteCarloParams) -> RuinCurve:
    rows = np.isin(paths.fractions, RUIN_FRACTIONS)
    wealth = paths.terminal_yen[rows] / params.start_yen
    return RuinCurve(
        fractions=tuple(float(f) for f in paths.fractions[rows]),
        overestimates=(1.0,),
        p_ruin=paths.ruined[rows].mean(axis=1)[None, :],
        median_terminal=np.median(wealth, axis=1)[None, :],
        seasons=params.seasons,
        bets=params.bets,
    )


def _source(bets: RunBets) -> str:
    return (
        f"the run's own {bets.bets:,} Themis bets, resampled uniformly, each with its stake as a "
        "share of the bankroll it was sized from and its real payout (nothing assumed about "
        f"an edge); a season is {bets.bets_per_season:,} bets (the run's bets per 365 days of "
        f"its {bets.period_days}-day period)"
    )


def themis_bet_count(run: BacktestRun) -> int:
    """The Themis bets the Monte Carlo could resample (`run_bets`)."""
    return run_bets(run, minimum=0).bets

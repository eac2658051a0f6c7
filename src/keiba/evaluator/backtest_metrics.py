"""The honest figures of a backtest, per strategy: what was staked and returned, how surely.

Reads the frames a run leaves behind (`bets`: `BETS_SCHEMA`, `daily`: `DAILY_SCHEMA`, see
`keiba.evaluator.backtest_frames`) and reduces one strategy to a JSON-ready dict:

- money: stakes, returns and profit over the tickets that stood (a refunded ticket gives the
  stake back: it is no bet, so it counts in `refunds` and nowhere else);
- 回収率 (return rate) and 的中率 (hit rate) with 95% race-level bootstrap intervals: the tickets
  of one race are not independent, so whole races are resampled;
- the bankroll's maximum drawdown and the Sharpe ratio of its daily returns;
- odds drift (decision odds against final odds) and the split by bet type and odds band.

Every figure is present for a strategy that never bet; what is undefined is None, never NaN.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from keiba.common.bet_types import BetType
from keiba.evaluator.backtest_frames import STRATEGIES

__all__ = [
    "ODDS_BANDS",
    "all_metrics",
    "interval_text",
    "odds_band",
    "percent_text",
    "rates",
    "strategy_metrics",
]

ODDS_BANDS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, math.inf)
"""Band edges of the decision odds; each band holds its lower edge."""
UNKNOWN_BAND = "unknown"
"""The band of a ticket whose decision odds are missing (null or NaN); listed last."""
CONFIDENCE = 0.95
_CHUNK_CELLS = 2_000_000
"""Bootstrap index cells drawn at a time, to bound memory on large runs."""

Interval = dict[str, float | None]
FloatArray = npt.NDArray[np.float64]


def _band_label(low: float, high: float) -> str:
    return f"{low:g}–{high:g}" if math.isfinite(high) else f"{low:g}+"


BAND_LABELS = tuple(_band_label(lo, hi) for lo, hi in itertools.pairwise(ODDS_BANDS))


def odds_band(odds: float) -> str:
    """The band of decision odds `odds` ("1–2", "2–5", …, "100+"); the lower edge is inclusive.

    Odds below 1.0 (JRA never pays less than the stake) fall in the lowest band.
    """
    if math.isnan(odds):
        raise ValueError("odds are NaN: no band")
    for (_, high), label in zip(itertools.pairwise(ODDS_BANDS), BAND_LABELS, strict=True):
        if odds < high:
            return label
    return BAND_LABELS[-1]  # +inf


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _stood(bets: pl.DataFrame) -> pl.DataFrame:
    """The tickets that stood: refunds excluded."""
    return bets.filter(~pl.col("refund"))


def _per_race(stood: pl.DataFrame) -> pl.DataFrame:
    """Stake, return, hits and ticket count per race, sorted by race_id."""
    return (
        stood.group_by("race_id")
        .agg(
            pl.col("stake_yen").sum().alias("staked"),
            pl.col("paid_yen").sum().alias("returned"),
            pl.col("hit").fill_null(False).sum().alias("hits"),
            pl.len().alias("bets"),
        )
        .sort("race_id")
    )


def _resampled_sums(columns: FloatArray, resamples: int, rng: np.random.Generator) -> FloatArray:
    """Column sums over `resamples` bootstrap resamples of the rows: shape (resamples, columns)."""
    n = columns.shape[0]
    out = np.empty((resamples, columns.shape[1]), dtype=np.float64)
    chunk = max(1, _CHUNK_CELLS // n)
    for first in range(0, resamples, chunk):
        size = min(chunk, resamples - first)
        index = rng.integers(0, n, size=(size, n))
        for j in range(columns.shape[1]):
            out[first : first + size, j] = columns[index, j].sum(axis=1)
    return out


def _interval(value: float | None, ratios: FloatArray | None) -> Interval:
    if value is None or ratios is None:
        return {"value": value, "low": None, "high": None}
    finite = ratios[np.isfinite(ratios)]
    if finite.size == 0:
        return {"value": value, "low": None, "high": None}
    tail = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return {"value": value, "low": float(low), "high": float(high)}


def _rates(stood: pl.DataFrame, resamples: int, seed: int) -> tuple[Interval, Interval]:
    """Return rate and hit rate with their race-level bootstrap intervals."""
    per_race = _per_race(stood)
    staked, returned = int(per_race["staked"].sum()), int(per_race["returned"].sum())
    hits, bets = int(per_race["hits"].sum()), int(per_race["bets"].sum())
    return_rate, hit_rate = _ratio(returned, staked), _ratio(hits, bets)
    if per_race.height == 0:
        return _interval(return_rate, None), _interval(hit_rate, None)
    if per_race.height == 1:
        return (
            {"value": return_rate, "low": return_rate, "high": return_rate},
            {"value": hit_rate, "low": hit_rate, "high": hit_rate},
        )
    columns = per_race.select("returned", "staked", "hits", "bets").to_numpy().astype(np.float64)
    sums = _resampled_sums(columns, resamples, np.random.default_rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            _interval(return_rate, sums[:, 0] / sums[:, 1]),
            _interval(hit_rate, sums[:, 2] / sums[:, 3]),
        )


def rates(bets: pl.DataFrame, *, resamples: int = 2000, seed: int = 0) -> tuple[Interval, Interval]:
    """Return rate and hit rate of bets rows (refunds left out) with their 95% race-level
    bootstrap intervals."""
    return _rates(_stood(bets), resamples, seed)


def _money(stood: pl.DataFrame) -> dict[str, int]:
    staked, returned = int(stood["stake_yen"].sum()), int(stood["paid_yen"].sum())
    return {
        "bets": stood.height,
        "staked_yen": staked,
        "returned_yen": returned,
        "profit_yen": returned - staked,
    }


def _bet_type_order(bet_type: str) -> tuple[int, str]:
    known = [t.value for t in BetType]
    return (known.index(bet_type), "") if bet_type in known else (len(known), bet_type)


def _by_bet_type(stood: pl.DataFrame, resamples: int, seed: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for bet_type in sorted(stood["bet_type"].unique().to_list(), key=_bet_type_order):
        rows = stood.filter(pl.col("bet_type") == bet_type)
        return_rate, hit_rate = _rates(rows, resamples, seed)
        out[bet_type] = {**_money(rows), "return_rate": return_rate, "hit_rate": hit_rate}
    return out


def _by_odds_band(stood: pl.DataFrame) -> list[dict[str, Any]]:
    odds = stood["decision_odds"].fill_nan(None).to_list()
    bands = [UNKNOWN_BAND if o is None else odds_band(o) for o in odds]
    banded = stood.select("stake_yen", "paid_yen").with_columns(
        band=pl.Series(bands, dtype=pl.String)
    )
    totals = banded.group_by("band").agg(
        pl.len().alias("bets"),
        pl.col("stake_yen").sum().alias("staked"),
        pl.col("paid_yen").sum().alias("returned"),
    )
    rows = {r["band"]: r for r in totals.iter_rows(named=True)}
    return [
        {
            "band": band,
            "bets": int(rows[band]["bets"]),
            "staked_yen": int(rows[band]["staked"]),
            "returned_yen": int(rows[band]["returned"]),
            "return_rate": _ratio(rows[band]["returned"], rows[band]["staked"]),
        }
        for band in (*BAND_LABELS, UNKNOWN_BAND)
        if band in rows
    ]


def _odds_drift(stood: pl.DataFrame) -> dict[str, Any]:
    known = stood.filter(
        pl.col("final_odds").is_not_null()
        & pl.col("decision_odds").is_not_null()
        & (pl.col("final_odds") > 0)
    )
    decision = known["decision_odds"].to_numpy().astype(np.float64)
    final = known["final_odds"].to_numpy().astype(np.float64)
    keep = np.isfinite(decision) & np.isfinite(final)
    decision, final = decision[keep], final[keep]
    if decision.size == 0:
        return {"bets": 0, "mean_ratio": None, "median_ratio": None, "share_shorter_at_close": None}
    ratio = decision / final
    return {
        "bets": int(decision.size),
        "mean_ratio": float(ratio.mean()),
        "median_ratio": float(np.median(ratio)),
        "share_shorter_at_close": float((final < decision).mean()),
    }


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _max_drawdown(start_yen: int, ends: list[int], dates: list[dt.date]) -> dict[str, Any]:
    """The worst fall, relative to the running peak, of [start_yen, *ends] (`ends` in date order).

    `days` counts race days from the peak to the first day the balance is back at the peak (to
    the last day if it never is). The peak is the last day at the peak balance before the trough;
    its date is None when that is the starting balance.
    """
    balances = [start_yen, *ends]
    labels: list[dt.date | None] = [None, *dates]
    peak_at, worst, worst_at, worst_peak_at = 0, 0.0, 0, 0
    for i, balance in enumerate(balances):
        if balance >= balances[peak_at]:
            peak_at = i
        peak = balances[peak_at]
        if peak > 0 and (peak - balance) / peak > worst:
            worst, worst_at, worst_peak_at = (peak - balance) / peak, i, peak_at
    if worst == 0.0:
        return {
            "fraction": 0.0,
            "yen": 0,
            "days": 0,
            "peak_date": None,
            "trough_date": None,
            "recovered": True,
        }
    peak = balances[worst_peak_at]
    recovery = next((i for i in range(worst_at, len(balances)) if balances[i] >= peak), None)
    end = len(balances) - 1 if recovery is None else recovery
    return {
        "fraction": worst,
        "yen": peak - balances[worst_at],
        "days": end - worst_peak_at,
        "peak_date": _iso(labels[worst_peak_at]),
        "trough_date": _iso(labels[worst_at]),
        "recovered": recovery is not None,
    }


def _sharpe(daily: pl.DataFrame) -> dict[str, Any]:
    """Sharpe ratio of the daily bankroll returns of one strategy's `daily` rows.

    Every race day with a positive starting balance counts, days without bets too (r = 0). The
    annualised figure scales by √(race days per year), the race-day frequency of the period.
    """
    days = daily.filter(pl.col("start_yen") > 0)
    start = days["start_yen"].to_numpy().astype(np.float64)
    end = days["end_yen"].to_numpy().astype(np.float64)
    returns = (end - start) / start
    n = int(returns.size)
    std = float(returns.std(ddof=1)) if n >= 2 else 0.0
    if n < 2 or std == 0.0 or not math.isfinite(std):
        return {"daily": None, "annualised": None, "days": n}
    ratio = float(returns.mean()) / std
    dates: list[dt.date] = daily["race_date"].to_list()
    span = (max(dates) - min(dates)).days + 1
    per_year = daily.height / span * 365.25
    return {"daily": ratio, "annualised": ratio * math.sqrt(per_year), "days": n}


def strategy_metrics(
    bets: pl.DataFrame,
    daily: pl.DataFrame,
    strategy: str,
    start_yen: int,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure of `strategy` in a backtest, JSON-ready (see the module docstring)."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    own = bets.filter(pl.col("strategy") == strategy)
    own = own.sort(own.columns)  # row order must never move a figure, not even in the last ulp
    stood = _stood(own)
    days = daily.filter(pl.col("strategy") == strategy).sort("race_date")
    ends = [int(e) for e in days["end_yen"].to_list()]
    return_rate, hit_rate = _rates(stood, resamples, seed)
    return {
        "strategy": strategy,
        "label": STRATEGIES.get(strategy, strategy),
        "start_yen": int(start_yen),
        "end_yen": ends[-1] if ends else int(start_yen),
        "days": days.height,
        "races": int(days["races"].sum()),
        "races_bet": own["race_id"].n_unique(),
        "bets": stood.height,
        "refunds": own.height - stood.height,
        **{k: v for k, v in _money(stood).items() if k != "bets"},
        "return_rate": return_rate,
        "hit_rate": hit_rate,
        "max_drawdown": _max_drawdown(int(start_yen), ends, days["race_date"].to_list()),
        "sharpe": _sharpe(days),
        "odds_drift": _odds_drift(stood),
        "by_bet_type": _by_bet_type(stood, resamples, seed),
        "by_odds_band": _by_odds_band(stood),
    }


def _strategy_order(strategy: str) -> tuple[int, str]:
    known = list(STRATEGIES)
    return (known.index(strategy), "") if strategy in known else (len(known), strategy)


def all_metrics(
    bets: pl.DataFrame,
    daily: pl.DataFrame,
    start_yen: int,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """`strategy_metrics` of every strategy in `daily`: known ones in report order, then others."""
    strategies = sorted(daily["strategy"].unique().to_list(), key=_strategy_order)
    return {
        s: strategy_metrics(bets, daily, s, start_yen, resamples=resamples, seed=seed)
        for s in strategies
    }


def percent_text(value: Any, digits: int = 1) -> str:
    """A rate as a percentage for tables ("—" when undefined)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def interval_text(interval: Mapping[str, Any] | None) -> str:
    """An `{"value", "low", "high"}` rate as "76.5% [71.9%, 81.2%]" ("—" when undefined)."""
    if not interval or interval.get("value") is None:
        return "—"
    text = percent_text(interval["value"])
    if interval.get("low") is not None and interval.get("high") is not None:
        text += f" [{percent_text(interval['low'])}, {percent_text(interval['high'])}]"
    return text

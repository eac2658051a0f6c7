"""Scoring probabilities the way Benter did: winner log-likelihood against the market's.

Every function takes one frame with a row per starter — `race_id`, `won` (1, or 1/k for each
of k runners in a dead heat for first, else 0) and a probability column — and scores only races
where every compared column is present, so model and market are always judged on exactly the
same races.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = [
    "Score",
    "calibration_table",
    "common_races",
    "delta_r2_interval",
    "mean",
    "score",
]


@dataclass(frozen=True)
class Score:
    """Winner log-loss (mean −log p(winner) per race), the uniform baseline and pseudo-R²."""

    races: int
    log_loss: float
    uniform_log_loss: float
    brier: float

    @property
    def pseudo_r2(self) -> float:
        return 1.0 - self.log_loss / self.uniform_log_loss


def score(frame: pl.DataFrame, column: str) -> Score:
    """Score `column` on the races where it is present for every starter."""
    if frame["won"].is_null().any():
        raise ValueError("the winner label `won` is null for some starters (it must be 0 or 1/k)")
    complete = frame.group_by("race_id").agg(
        pl.col(column).is_null().any().alias("_missing"),
        pl.len().alias("_n"),
        (pl.col("won") > 0).any().alias("_has_winner"),
    )
    keep = complete.filter(~pl.col("_missing") & pl.col("_has_winner"))["race_id"]
    scored = frame.filter(pl.col("race_id").is_in(keep.implode()))
    if scored.is_empty():
        raise ValueError(f"no race has {column!r} for every starter and a winner")
    per_race = (
        scored.group_by("race_id")
        .agg(
            (-(pl.col("won") * pl.col(column).clip(1e-12, 1.0).log())).sum().alias("nll"),
            pl.len().alias("n"),
            ((pl.col(column) - (pl.col("won") > 0).cast(pl.Float64)) ** 2).sum().alias("brier"),
        )
        .sort("race_id")  # the means below sum in this order: the same on every run
    )
    return Score(
        races=per_race.height,
        log_loss=mean(per_race["nll"]),
        uniform_log_loss=mean(per_race["n"].cast(pl.Float64).log()),
        brier=mean(per_race["brier"]),
    )


def mean(values: pl.Series) -> float:
    """The mean of a column without nulls, summed in one order whatever the thread count: Polars
    sums a column chunk by chunk, and how a computed column is chunked depends on the threads
    that built it."""
    return float(np.mean(values.to_numpy()))


def common_races(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Rows of the races where every column in `columns` is present for every starter."""
    missing = pl.any_horizontal([pl.col(c).is_null() for c in columns])
    bad = frame.filter(missing)["race_id"].unique()
    return frame.filter(~pl.col("race_id").is_in(bad.implode()))


def calibration_table(frame: pl.DataFrame, column: str, bins: int = 10) -> pl.DataFrame:
    """Predicted vs observed win frequency in probability bins of equal runner counts."""
    data = frame.select(pl.col(column).alias("p"), (pl.col("won") > 0).cast(pl.Float64).alias("y"))
    data = data.drop_nulls().sort("p", "y")  # tied probabilities fall into bins the same way
    n = data.height
    if n == 0:
        return pl.DataFrame(
            schema={
                "bin": pl.Int64,
                "predicted": pl.Float64,
                "observed": pl.Float64,
                "runners": pl.Int64,
            }
        )
    edges = np.minimum((np.arange(n) * bins) // n, bins - 1)
    data = data.with_columns(pl.Series("bin", edges, dtype=pl.Int64))
    table = data.group_by("bin").agg(
        pl.col("p").mean().alias("predicted"),
        pl.col("y").mean().alias("observed"),
        pl.len().cast(pl.Int64).alias("runners"),
    )
    return table.sort("bin")


def delta_r2_interval(
    frame: pl.DataFrame,
    column_a: str,
    column_b: str,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """ΔR² = R²(a) − R²(b) with a 95% race-level bootstrap interval (resampling races)."""
    rows = common_races(frame, [column_a, column_b])
    per_race = (
        rows.group_by("race_id")
        .agg(
            (-(pl.col("won") * pl.col(column_a).clip(1e-12, 1.0).log())).sum().alias("a"),
            (-(pl.col("won") * pl.col(column_b).clip(1e-12, 1.0).log())).sum().alias("b"),
            pl.len().cast(pl.Float64).log().alias("u"),
        )
        .sort("race_id")  # group_by's order varies between runs; the bootstrap's must not
    )
    a = per_race["a"].to_numpy()
    b = per_race["b"].to_numpy()
    u = per_race["u"].to_numpy()
    point = (b.sum() - a.sum()) / u.sum()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(resamples, len(a)))
    samples = (b[idx].sum(axis=1) - a[idx].sum(axis=1)) / u[idx].sum(axis=1)
    low, high = np.quantile(samples, [0.025, 0.975])
    return float(point), float(low), float(high)

"""A simulated world's floors side by side, on the same races: truth, knowable, learnable, market.

`floors_frame` gathers, for every starter of the races dated in a period, the true win
probability, the knowable floor (the day's form integrated out, every latent quantity known),
the learnable floors (`keiba.simulator.learnable_world`: the posterior predictive from the
record before the race, from the results alone and from the results and past odds) and the
market's probability; `score_floors` gives each one's winner log-loss overall and in three
groups of races: with a debutant (a starter with no earlier start in the record), every
starter with an earlier start, every starter with at least five. Given a model's
probabilities for the same starters (`p_model`), it is scored beside them, with its ΔR² against
the learnable floor and a race-level bootstrap interval.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from keiba.evaluator.metrics import common_races, delta_r2_interval, score
from keiba.market.probabilities import market_probabilities
from keiba.simulator.learnable_world import LearnableWorld

__all__ = [
    "FLOOR_COLUMNS",
    "GROUPS",
    "first_test_day",
    "floors_frame",
    "score_floors",
    "starters_of",
]

FLOOR_COLUMNS = {
    "p_true": "true probabilities",
    "p_knowable": "knowable from the past",
    "p_learnable": "learnable from results and past odds",
    "p_learnable_results": "learnable from results alone",
    "p_market": "market",
}
GROUPS = {
    "all races": pl.lit(True),
    "with a debutant": pl.col("fewest_starts") == 0,
    "every starter has run": pl.col("fewest_starts") >= 1,
    "every starter ≥ 5 starts": pl.col("fewest_starts") >= 5,
}


def first_test_day(days: list[dt.date], test_fraction: float) -> dt.date:
    """The first day of the test period: the last `test_fraction` of race days (sorted)."""
    return days[len(days) - max(1, round(len(days) * test_fraction))]


def floors_frame(
    learnable: LearnableWorld,
    first: dt.date,
    last: dt.date,
    model: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Starters of the races dated in [first, last] that have a winner and every floor (and
    `model`'s p_model by race_id and horse_no, if given)."""
    world = learnable.world
    starters = (
        world.runners.filter(~pl.col("status").is_in(["scratched", "excluded"]))
        .select("race_id", "horse_no", "horse_id", "finish_pos", "win_odds_final")
        .join(world.races.select("race_id", "race_date"), on="race_id")
        .sort("race_date", "race_id", "horse_no")
        .with_columns(pl.int_range(pl.len()).over("horse_id").alias("starts_before"))
    )
    frame = (
        starters.join(learnable.truth, on=["race_id", "horse_no"])
        .filter(pl.col("race_date").is_between(first, last))
        .with_columns((pl.col("finish_pos") == 1).cast(pl.Float64).fill_null(0.0).alias("first"))
        .with_columns(
            (pl.col("first") / pl.col("first").sum().over("race_id")).fill_nan(0.0).alias("won"),
            pl.col("starts_before").min().over("race_id").alias("fewest_starts"),
        )
        .filter((pl.col("won") > 0).any().over("race_id"))
        .sort("race_id", "horse_no")
    )
    frame = frame.with_columns(market_probabilities(frame))
    columns = list(FLOOR_COLUMNS)
    if model is not None:
        frame = frame.join(model, on=["race_id", "horse_no"], how="left", maintain_order="left")
        columns.append("p_model")
    return common_races(frame, columns)


def starters_of(learnable: LearnableWorld, first: dt.date, last: dt.date) -> pl.DataFrame:
    """race_id and horse_no of the starters of the races dated in [first, last]."""
    return floors_frame(learnable, first, last).select("race_id", "horse_no")


def score_floors(frame: pl.DataFrame) -> dict[str, Any]:
    """Races and winner log-loss of every floor, overall and by group."""
    out: dict[str, Any] = {}
    for group, condition in GROUPS.items():
        part = frame.filter(condition)
        if part.is_empty():
            continue
        names = FLOOR_COLUMNS | ({"p_model": "model"} if "p_model" in part.columns else {})
        scores = {name: score(part, column) for column, name in names.items()}
        out[group] = {
            "races": scores["market"].races,
            "log_loss": {name: s.log_loss for name, s in scores.items()},
        }
        if "p_model" in part.columns:
            delta, low, high = delta_r2_interval(part, "p_model", "p_learnable")
            out[group]["model_vs_learnable_delta_r2"] = {"delta": delta, "low": low, "high": high}
    return out

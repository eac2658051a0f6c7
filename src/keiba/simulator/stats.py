"""Measuring a world's market against the facts of JRA betting.

Everything is computed from the contract tables alone, the way it would be on real data
(plus `true_probabilities`, which only a simulated world has):

- how often the favourite (popularity 1) wins and finishes in the top three;
- the return of betting 100 yen on every favourite to win and to place, on every longshot
  (popularity 14–18) to win, and on every starter to win; the win pool's payback;
- incidents: dead heats for first, races with any tie, races with a non-finisher;
- winner log-loss per race of the truth, of the market (q ∝ 1/odds, normalised) and of the
  uniform guess, and the pseudo-R² of truth and market against uniform (Benter's measure).
  Races with a dead heat for first are left out of the log-losses.
"""

from __future__ import annotations

from typing import Any, cast

import polars as pl

from keiba.simulator.config import SimulatedWorld

__all__ = ["market_statistics", "market_statistics_of"]

_NOT_STARTED = ("scratched", "excluded")
_LONGSHOT = (14, 18)


def _ratio(numerator: Any, denominator: Any) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def _mean(values: pl.Series) -> float:
    return float(cast(float, values.mean()))


def market_statistics(world: SimulatedWorld) -> dict[str, float | int]:
    """Measured market facts of `world` (rates and returns as fractions, log-losses in nats)."""
    return market_statistics_of(
        world.races, world.runners, world.payouts, world.odds, world.true_probabilities
    )


def market_statistics_of(
    races: pl.DataFrame,
    runners: pl.DataFrame,
    payouts: pl.DataFrame,
    odds: pl.DataFrame | None = None,
    true_probabilities: pl.DataFrame | None = None,
) -> dict[str, float | int]:
    """The same facts from contract tables alone, so real JRA data can be measured alike.

    Without `odds` (win pools) the pool payback is left out; without `true_probabilities`
    the truth's log-loss is.
    """
    starters = runners.filter(~pl.col("status").is_in(_NOT_STARTED)).with_columns(
        pl.col("horse_no").cast(pl.String).alias("combination")
    )
    win_pay = payouts.filter(pl.col("bet_type") == "win").select(
        "race_id", "combination", pl.col("payout_yen").alias("win_paid")
    )
    place_pay = payouts.filter(pl.col("bet_type") == "place").select(
        "race_id", "combination", pl.col("payout_yen").alias("place_paid")
    )
    place_races = place_pay.select("race_id").unique()
    bets = (
        starters.join(win_pay, on=["race_id", "combination"], how="left")
        .join(place_pay, on=["race_id", "combination"], how="left")
        .with_columns(
            pl.col("win_paid").fill_null(0),
            pl.col("place_paid").fill_null(0),
            pl.col("race_id").is_in(place_races["race_id"].implode()).alias("place_sold"),
        )
    )
    favourites = bets.filter(pl.col("popularity") == 1)
    placed_favourites = favourites.filter(pl.col("place_sold"))
    longshots = bets.filter(pl.col("popularity").is_between(*_LONGSHOT))

    per_race = runners.group_by("race_id").agg(
        (pl.col("finish_pos") == 1).sum().alias("firsts"),
        pl.col("finish_pos").drop_nulls().is_duplicated().any().alias("tie"),
        (pl.col("status") != "finished").any().alias("non_finisher"),
    )
    single = per_race.filter(pl.col("firsts") == 1).select("race_id")
    scored = (
        starters.join(single, on="race_id")
        .with_columns(
            (
                (1.0 / pl.col("win_odds_final"))
                / (1.0 / pl.col("win_odds_final")).sum().over("race_id")
            ).alias("q"),
            pl.len().over("race_id").alias("n"),
        )
        .filter(pl.col("finish_pos") == 1)
    )
    log_loss_market = -_mean(scored["q"].log())
    log_loss_uniform = _mean(scored["n"].cast(pl.Float64).log())

    statistics: dict[str, float | int] = {
        "races": races.height,
        "runners": runners.height,
        "starters": starters.height,
        "mean_field_size": _mean(races["field_size"]),
        "mean_starters": _ratio(starters.height, races.height),
        "favourite_win_rate": _ratio((favourites["finish_pos"] == 1).sum(), favourites.height),
        "favourite_top3_rate": _ratio((favourites["finish_pos"] <= 3).sum(), favourites.height),
        "favourite_win_return": _ratio(favourites["win_paid"].sum(), 100 * favourites.height),
        "favourite_place_return": _ratio(
            placed_favourites["place_paid"].sum(), 100 * placed_favourites.height
        ),
        "longshot_win_return": _ratio(longshots["win_paid"].sum(), 100 * longshots.height),
        "longshot_bets": longshots.height,
        "win_return_all_starters": _ratio(bets["win_paid"].sum(), 100 * bets.height),
        "dead_heat_first_races": int((per_race["firsts"] > 1).sum()),
        "races_with_tie": int(per_race["tie"].sum()),
        "races_with_non_finisher": int(per_race["non_finisher"].sum()),
        "log_loss_market": log_loss_market,
        "log_loss_uniform": log_loss_uniform,
        "pseudo_r2_market": 1.0 - log_loss_market / log_loss_uniform,
    }
    if odds is not None:
        pool = odds.filter(pl.col("bet_type") == "win").select("race_id", "combination", "pool_yen")
        pool_paid = win_pay.join(pool, on=["race_id", "combination"])
        statistics["win_pool_payback"] = _ratio(
            (pool_paid["win_paid"] * pool_paid["pool_yen"]).sum() / 100, pool["pool_yen"].sum()
        )
    if true_probabilities is not None:
        truth = scored.join(true_probabilities, on=["race_id", "horse_no"])
        log_loss_true = -_mean(truth["p_true"].log())
        statistics["log_loss_true"] = log_loss_true
        statistics["pseudo_r2_true"] = 1.0 - log_loss_true / log_loss_uniform
    return statistics

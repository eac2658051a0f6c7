"""The one source of win probabilities: a trained model and its market stage over starters.

Every caller that needs probabilities — the demo, the backtest, `keiba model predict`, the race
day — hands this module the starters it is about to decide on (one row per runner still running
at decision time) and gets back the model's probabilities (`p_model`) and, with a market stage
and the market's probabilities (`p_market`) beside them, the combined ones (`p_combined`).

The model's probabilities are a softmax over the starters' features within each race, so they
sum to one over exactly the runners that will run. A race is not priced (all its `p_model` are
null, and it is listed as stale) when the `features` table does not hold a row of the model's
feature version for each of its starters: a model never sees a field it was not asked about.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.feature_engineering import read_features
from keiba.model_training import TrainedModel, predict_proba
from keiba.model_training.combination import MarketCombination

__all__ = ["Priced", "model_probabilities", "race_probabilities"]


@dataclass(frozen=True)
class Priced:
    """Starters with their probabilities, and the races that could not be priced."""

    frame: pl.DataFrame
    stale_races: tuple[str, ...]
    """Races with a starter that has no feature row of the model's version."""


def model_probabilities(
    model: TrainedModel, warehouse: Warehouse, starters: pl.DataFrame
) -> Priced:
    """`starters` (race_id, horse_no, race_date, …) with `p_model`, in their own row order."""
    if starters.is_empty():
        return Priced(starters.with_columns(pl.lit(None, dtype=pl.Float64).alias("p_model")), ())
    first, last = starters["race_date"].min(), starters["race_date"].max()
    if not isinstance(first, dt.date) or not isinstance(last, dt.date):
        raise KeibaError("the starters carry no race dates")
    keys = starters.select(
        pl.col("race_id").cast(pl.String), pl.col("horse_no").cast(pl.Int64)
    ).unique()
    features = read_features(warehouse, first, last, feature_version=model.feature_version)
    features = features.with_columns(pl.col("horse_no").cast(pl.Int64)).join(
        keys, on=["race_id", "horse_no"], how="semi", maintain_order="left"
    )
    have = features.group_by("race_id").len("have")
    want = keys.group_by("race_id").len("want")
    counts = want.join(have, on="race_id", how="left")
    stale = counts.filter(pl.col("have").fill_null(0) < pl.col("want"))["race_id"]
    priced = features.filter(~pl.col("race_id").is_in(stale.implode())).sort("race_id", "horse_no")
    p_model = priced.select("race_id", "horse_no").with_columns(
        pl.Series("p_model", predict_proba(model, priced), dtype=pl.Float64)
    )
    frame = starters.with_columns(pl.col("horse_no").cast(pl.Int64)).join(
        p_model, on=["race_id", "horse_no"], how="left", maintain_order="left"
    )
    return Priced(frame, tuple(sorted(stale.to_list())))


def race_probabilities(
    model: TrainedModel,
    combination: MarketCombination,
    warehouse: Warehouse,
    starters: pl.DataFrame,
) -> Priced:
    """`model_probabilities` plus `p_combined` from the market stage; `starters` must hold
    `p_market` (null where a race has no complete market: then p_combined is the model's)."""
    if "p_market" not in starters.columns:
        raise KeibaError("the starters carry no market probabilities (p_market)")
    priced = model_probabilities(model, warehouse, starters)
    return Priced(priced.frame.with_columns(combination.apply(priced.frame)), priced.stale_races)

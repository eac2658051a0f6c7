"""The one source of the model's win probabilities: a trained model over a race's starters.

Every caller that needs probabilities — training's market stage and evaluation, the demo, the
backtest, `keiba model predict`, the race day — hands `model_probabilities` the starters it is
about to decide on (one row per runner still running at decision time) and gets `p_model`
(`keiba.predictor.race_probabilities` adds the market stage on top).

The probabilities are a softmax over the starters' features within each race, so they sum to
one over exactly the runners that will run. A race is not priced (all its `p_model` are null,
and it is listed as stale) when the `features` table does not hold exactly one row of the
model's feature version for each of its starters and none for other runners: a feature built
before a scratch or a late entry describes another field (the relative features compare a
runner with the others), and a model never prices a field it was not shown.

A model boosted from the market (`TrainedModel.offset`) adds each starter's log `p_market`,
and a model reading the market as a feature computes its market columns from it
(`keiba.model_training.model.uses_market`): the starters must carry it (the same market the
market stage combines); a race with a starter without one is not priced.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.feature_engineering import read_features
from keiba.model_training.model import TrainedModel, predict_proba, uses_market

__all__ = ["Priced", "model_probabilities"]


@dataclass(frozen=True)
class Priced:
    """Starters with their probabilities, and the races that could not be priced."""

    frame: pl.DataFrame
    stale_races: tuple[str, ...]
    """Races with a starter that has no feature row of the model's version."""
    unpriced_races: tuple[str, ...] = ()
    """For a model boosted from the market: races with a starter without a market probability
    (not stale: no feature build can price them)."""


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
        keys.select("race_id").unique(), on="race_id", how="semi"
    )
    matched = features.join(
        keys.with_columns(pl.lit(True).alias("_starter")), on=["race_id", "horse_no"], how="left"
    )
    counts = (
        keys.group_by("race_id")
        .len("want")
        .join(
            matched.group_by("race_id").agg(
                pl.col("_starter").is_not_null().sum().alias("have"),
                pl.col("_starter").is_null().sum().alias("extra"),
            ),
            on="race_id",
            how="left",
        )
    )
    stale = counts.filter(
        (pl.col("have").fill_null(0) != pl.col("want")) | (pl.col("extra").fill_null(0) > 0)
    )["race_id"]
    priced = features.filter(~pl.col("race_id").is_in(stale.implode())).sort("race_id", "horse_no")
    unpriced: list[str] = []
    if uses_market(model):
        priced, missing = _with_starters_market(priced, starters)
        unpriced = sorted(missing.to_list())
    p_model = priced.select("race_id", "horse_no").with_columns(
        pl.Series("p_model", predict_proba(model, priced), dtype=pl.Float64)
    )
    frame = starters.with_columns(pl.col("horse_no").cast(pl.Int64)).join(
        p_model, on=["race_id", "horse_no"], how="left", maintain_order="left"
    )
    return Priced(frame, tuple(sorted(stale.to_list())), tuple(unpriced))


def _with_starters_market(
    priced: pl.DataFrame, starters: pl.DataFrame
) -> tuple[pl.DataFrame, pl.Series]:
    """For a model boosted from the market: `priced` with the starters' `p_market` (the market
    the caller compares with and combines), less the races where a starter has none (returned,
    never priced)."""
    if "p_market" not in starters.columns:
        raise KeibaError(
            "the model boosts from the market and the starters carry no market probabilities "
            "(p_market)"
        )
    market = starters.select(
        pl.col("race_id").cast(pl.String),
        pl.col("horse_no").cast(pl.Int64),
        pl.col("p_market").cast(pl.Float64),
    )
    joined = priced.join(market, on=["race_id", "horse_no"], how="left", maintain_order="left")
    p = pl.col("p_market")
    usable = (p.is_not_null() & p.is_finite() & (p > 0)).all().over("race_id")
    unpriced = joined.filter(~usable)["race_id"].unique()
    return joined.filter(usable), unpriced

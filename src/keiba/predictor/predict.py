"""Win probabilities for races from a trained model and the warehouse's `features` table.

The predictor reads features (never results), checks they were built with the feature version
the model was trained on, and returns one probability per starter, summing to 1 per race,
stamped with the model version, the feature version and the decision time (`as_of`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.feature_engineering import FEATURES_TABLE, STARTED_SQL, build_features, read_features
from keiba.market.fields import COMPLETE_FIELDS_SQL
from keiba.market.probabilities import market_probabilities
from keiba.model_training import TrainedModel
from keiba.model_training.combination import MarketCombination
from keiba.model_training.model import uses_market
from keiba.model_training.starters import model_probabilities

__all__ = [
    "PREDICTIONS_TABLE",
    "PREDICTION_COLUMNS",
    "STORED_PREDICTION_COLUMNS",
    "predict_races",
    "with_market_stage",
    "write_predictions",
]

PREDICTION_COLUMNS = ("race_id", "horse_no", "p_model", "model_version", "feature_version", "as_of")


def _starters(warehouse: Warehouse, date_from: dt.date, date_to: dt.date) -> pl.DataFrame:
    """Every runner of the races dated in the range that was not scratched or excluded."""
    return warehouse.query(
        f"""SELECT r.race_id, CAST(r.horse_no AS BIGINT) AS horse_no, ra.race_date
        FROM runners r JOIN races ra ON ra.race_id = r.race_id
        WHERE ra.race_date >= ? AND ra.race_date <= ? AND r.{STARTED_SQL}
        ORDER BY r.race_id, r.horse_no""",
        [date_from, date_to],
    )


def _final_market(warehouse: Warehouse, race_ids: list[str]) -> pl.DataFrame:
    """race_id, horse_no, win_odds_final and p_market of the starters of `race_ids` (final odds
    de-vigged; null for the whole race where a starter has no odds above zero or a declared
    runner has no row)."""
    odds = warehouse.query(
        f"""SELECT race_id, CAST(horse_no AS BIGINT) AS horse_no, win_odds_final,
               race_id IN ({COMPLETE_FIELDS_SQL}) AS complete
        FROM runners WHERE race_id IN (SELECT unnest(?)) AND {STARTED_SQL}""",
        [race_ids],
    )
    priced = pl.col("complete").fill_null(False) & (pl.col("win_odds_final") > 0).fill_null(False)
    odds = odds.with_columns(
        pl.when(priced.all().over("race_id"))
        .then(pl.col("win_odds_final"))
        .otherwise(None)
        .alias("win_odds_final")
    )
    return odds.with_columns(market_probabilities(odds)).drop("complete")


def _with_final_market(warehouse: Warehouse, starters: pl.DataFrame) -> pl.DataFrame:
    """`starters` with the p_market the market stage combines (`with_market_stage`), the offset
    of a model boosted from the market."""
    market = _final_market(warehouse, starters["race_id"].unique().to_list())
    return starters.join(
        market.select("race_id", "horse_no", "p_market"),
        on=["race_id", "horse_no"],
        how="left",
        maintain_order="left",
    )


def predict_races(
    model: TrainedModel,
    warehouse: Warehouse,
    date_from: dt.date,
    date_to: dt.date,
    *,
    rebuild_features: bool = False,
) -> pl.DataFrame:
    """Probabilities for every starter of the races dated in [date_from, date_to].

    Columns: race_id, horse_no, p_model, model_version, feature_version, as_of; sorted by
    race_id and horse_no. The `features` table must match the races' starters: with
    `rebuild_features=True` it is rebuilt first when it does not (or does not exist);
    otherwise a missing or out-of-date race is an error, never a silent gap. A model boosted
    from the market or reading it (`uses_market`) adds the races' final-odds market
    (`p_market`, as `with_market_stage` reads it); where that is null (incomplete odds or
    field) the race's p_model is null: it cannot be priced.
    """
    if date_to < date_from:
        raise KeibaError(f"empty date range: {date_from} to {date_to}")
    if not warehouse.has_table(FEATURES_TABLE):
        if not rebuild_features:
            raise KeibaError("the warehouse has no features table: build the features first")
        build_features(warehouse)
    starters = _starters(warehouse, date_from, date_to)
    if uses_market(model):
        starters = _with_final_market(warehouse, starters)
    priced = model_probabilities(model, warehouse, starters)
    if priced.stale_races and rebuild_features:
        build_features(warehouse)
        priced = model_probabilities(model, warehouse, starters)
    if priced.stale_races:
        raise KeibaError(
            f"{len(priced.stale_races)} race(s) between {date_from} and {date_to} have missing "
            f"or out-of-date features of version {model.feature_version} (the model's): "
            "rebuild the features"
        )
    stamps = read_features(warehouse, date_from, date_to, feature_version=model.feature_version)
    return priced.frame.join(
        stamps.select("race_id", pl.col("horse_no").cast(pl.Int64), "feature_version", "as_of"),
        on=["race_id", "horse_no"],
        how="left",
        maintain_order="left",
    ).select(
        "race_id",
        "horse_no",
        "p_model",
        pl.lit(model.version, dtype=pl.String).alias("model_version"),
        "feature_version",
        "as_of",
    )


PREDICTIONS_TABLE = "predictions"
STORED_PREDICTION_COLUMNS = (
    "race_id",
    "horse_no",
    "p_model",
    "p_market",
    "p_combined",
    "model_version",
    "feature_version",
    "as_of",
)


def with_market_stage(
    warehouse: Warehouse, predictions: pl.DataFrame, combination: MarketCombination
) -> pl.DataFrame:
    """Add p_market (final odds, de-vigged; null where a race's odds are incomplete or where a
    declared runner has no row) and p_combined (the model alone where p_market is null; null
    where p_model is too, a race a model boosted from the market cannot price)."""
    market = _final_market(warehouse, predictions["race_id"].unique().to_list())
    frame = predictions.join(market, on=["race_id", "horse_no"], how="left", maintain_order="left")
    frame = frame.with_columns(combination.apply(frame)).with_columns(
        pl.when(pl.col("p_model").is_null().any().over("race_id"))
        .then(None)
        .otherwise(pl.col("p_combined"))
        .alias("p_combined")
    )
    return frame.select(STORED_PREDICTION_COLUMNS)


def write_predictions(warehouse: Warehouse, predictions: pl.DataFrame) -> int:
    """Store rows in table `predictions`, replacing earlier rows of the same race and model
    version (re-running a prediction never duplicates rows); returns the rows written."""
    frame = predictions.select(STORED_PREDICTION_COLUMNS)
    if frame.is_empty():
        return 0
    if warehouse.has_table(PREDICTIONS_TABLE):
        kept = warehouse.query(
            f"SELECT {', '.join(STORED_PREDICTION_COLUMNS)} FROM {PREDICTIONS_TABLE}"
        ).join(
            frame.select("race_id", "model_version").unique(),
            on=["race_id", "model_version"],
            how="anti",
        )
        frame = pl.concat([kept.cast(dict(frame.schema)), frame]).sort(  # type: ignore[arg-type]
            "model_version", "race_id", "horse_no"
        )
    warehouse.write_table(PREDICTIONS_TABLE, frame, replace=True)
    return predictions.height

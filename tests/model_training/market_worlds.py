"""Small synthetic worlds for the tests of models priced with the market: race frames as
`train_model` reads them, from the runners' features, latent performances and market."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl


def race_frame(
    race: np.ndarray, features: dict[str, np.ndarray], g: np.ndarray, q: np.ndarray
) -> pl.DataFrame:
    """Rows of races numbered `race` (12 a day from 2020-01-01), with the feature columns, the
    winner and order by the performance `g` (highest first), and the market `q` as final odds
    (no take) and `p_market`."""
    frame = pl.DataFrame({"race": race, **features, "g": g, "win_odds_final": 1.0 / q})
    return frame.with_columns(
        race_id=pl.format("r{}", pl.col("race").cast(pl.String).str.zfill(5)),
        race_date=pl.lit(dt.date(2020, 1, 1)) + pl.duration(days=pl.col("race") // 12),
        won=(pl.col("g") == pl.col("g").max().over("race")).cast(pl.Float64),
        finish_pos=pl.col("g").rank(method="ordinal", descending=True).over("race"),
        complete_field=pl.lit(True),
        p_market=pl.Series(q),
    ).drop("g", "race")


def split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The races in order, 60% / 20% / 20%: training, early stopping, test."""
    races = frame["race_id"].unique(maintain_order=True)
    n = len(races)
    parts = (races[: n * 6 // 10], races[n * 6 // 10 : n * 8 // 10], races[n * 8 // 10 :])
    train, valid, test = (frame.filter(pl.col("race_id").is_in(r.implode())) for r in parts)
    return train, valid, test

"""The market's win probabilities: win odds de-vigged, 1/odds normalised within each race."""

from __future__ import annotations

import polars as pl

__all__ = ["market_probabilities"]


def market_probabilities(frame: pl.DataFrame, odds_column: str = "win_odds_final") -> pl.Series:
    """De-vigged market probabilities: 1/odds normalised within each race (null without odds)."""
    inverse = (1.0 / pl.col(odds_column)).fill_nan(None)
    return frame.select((inverse / inverse.sum().over("race_id")).alias("p_market")).to_series()

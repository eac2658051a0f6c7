"""Contract frames for dataset tests: races moved to other race numbers, and true probabilities.

A module of its own (not a conftest) so tests anywhere can import it by one unambiguous name.
"""

from __future__ import annotations

import polars as pl

from contract_frames import contract_frame
from keiba.common.schema import table

__all__ = ["moved", "with_truth"]


def moved(frames: dict[str, pl.DataFrame], offset: int) -> dict[str, pl.DataFrame]:
    """The same races `offset` race numbers later: other keys, still consistent."""

    def key(column: str) -> pl.Expr:
        number = pl.col(column).str.slice(-2).cast(pl.Int64) + offset
        return pl.col(column).str.slice(0, pl.col(column).str.len_chars() - 2) + number.cast(
            pl.String
        ).str.zfill(2)

    out = {name: frame.with_columns(key("race_id")) for name, frame in frames.items()}
    out["races"] = out["races"].with_columns(key("netkeiba_race_id"), pl.col("race_no") + offset)
    return out


def with_truth(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`frames` and a `true_probabilities` table: equal chances for every runner of a race."""
    runners = frames["runners"].select("race_id", "horse_no")
    rows = runners.with_columns((1.0 / pl.len().over("race_id")).alias("p_true")).to_dicts()
    return {**frames, "true_probabilities": contract_frame(table("true_probabilities"), rows)}

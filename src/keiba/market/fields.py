"""The complete-field rule: only races with a row for every declared runner are priced.

Where non-finishers are missing from the source, normalising the market over the known
finishers would use the result, so such races are left out of everything that compares
probabilities with the market. `market_frame` reads the starters of the complete races of a
period with the winner label and the market's de-vigged probabilities.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from keiba.common.storage.warehouse import Warehouse
from keiba.market.probabilities import market_probabilities

__all__ = ["COMPLETE_FIELDS_SQL", "incomplete_races", "market_frame"]

COMPLETE_FIELDS_SQL = """
    SELECT race_id FROM races JOIN runners USING (race_id)
    GROUP BY race_id, field_size HAVING count(*) = field_size
"""
"""Races with a row for every declared runner."""


def market_frame(warehouse: Warehouse, date_from: dt.date, date_to: dt.date) -> pl.DataFrame:
    """Starters of complete races dated in [date_from, date_to]: race_id, horse_no, race_date,
    surface, race_class, win_odds_final, p_true and p_knowable (null unless simulated), won
    (1/k for a k-way dead heat) and p_market; sorted by race_id and horse_no."""
    has_truth = warehouse.has_table("true_probabilities")
    truth = (
        "t.p_true, t.p_knowable"
        if has_truth
        else "CAST(NULL AS DOUBLE) AS p_true, CAST(NULL AS DOUBLE) AS p_knowable"
    )
    join = "LEFT JOIN true_probabilities t USING (race_id, horse_no)" if has_truth else ""
    frame = warehouse.query(
        f"""
        SELECT r.race_id, CAST(r.horse_no AS BIGINT) AS horse_no, ra.race_date, ra.surface,
               ra.race_class, r.win_odds_final, {truth},
               CAST(coalesce(r.finish_pos = 1, FALSE) AS DOUBLE) AS first
        FROM runners r JOIN races ra USING (race_id) {join}
        WHERE ra.race_date BETWEEN ? AND ? AND r.status NOT IN ('scratched', 'excluded')
          AND r.race_id IN ({COMPLETE_FIELDS_SQL})
        ORDER BY r.race_id, r.horse_no
        """,
        [date_from, date_to],
    )
    frame = frame.with_columns(
        (pl.col("first") / pl.col("first").sum().over("race_id")).fill_nan(0.0).alias("won")
    ).drop("first")
    return frame.with_columns(market_probabilities(frame))


def incomplete_races(warehouse: Warehouse, date_from: dt.date, date_to: dt.date) -> int:
    """Races of the period that lack a row for some declared runner (never scored)."""
    found = warehouse.query(
        f"SELECT count(*) AS n FROM races WHERE race_date BETWEEN ? AND ? "
        f"AND race_id NOT IN ({COMPLETE_FIELDS_SQL})",
        [date_from, date_to],
    )
    return int(found["n"][0])

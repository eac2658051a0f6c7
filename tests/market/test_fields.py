"""The complete-field rule: races lacking a row for a declared runner are never priced."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from keiba.common.storage import DuckDBWarehouse
from keiba.market.fields import incomplete_races, market_frame

DAY = dt.date(2020, 1, 5)


def test_only_complete_races_are_read_with_winner_and_market(tiny_world) -> None:
    # race 1 loses its 4th-placed runner's row: its field is no longer complete
    runners = tiny_world["runners"].filter(
        ~((pl.col("race_id") == "2020010506010101") & (pl.col("horse_no") == 4))
    )
    with DuckDBWarehouse(None) as warehouse:
        warehouse.load({**tiny_world, "runners": runners})
        assert incomplete_races(warehouse, DAY, DAY) == 1
        assert (
            incomplete_races(warehouse, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=9)) == 0
        )
        frame = market_frame(warehouse, DAY, DAY)
    assert frame["race_id"].unique().to_list() == ["2020010506010102"]
    assert frame["horse_no"].to_list() == [1, 2, 3]  # the scratched runner does not start
    assert frame["won"].to_list() == [0.0, 1.0, 0.0]
    inverse = [1 / 1.8, 1 / 4.0, 1 / 5.0]
    assert frame["p_market"].to_list() == pytest.approx([x / sum(inverse) for x in inverse])
    assert frame["p_true"].is_null().all()

"""The walk-forward schedule: one window per month, trained only on the days before it."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import polars as pl
import pytest

from contract_frames import contract_frame
from feature_engineering.synthetic import make_world, warehouse_of
from keiba.common.bet_types import BetType
from keiba.common.config import BacktestConfig
from keiba.common.errors import KeibaError
from keiba.common.schema import table
from keiba.common.storage import DuckDBWarehouse
from keiba.engine.recorded import priced_races
from keiba.evaluator.main_job import load_sample
from keiba.evaluator.walk_forward import plan_windows

# JRA-like weekends of 2018: Saturdays and Sundays
DAYS = [dt.date(2018, 1, 6) + dt.timedelta(days=7 * w + d) for w in range(40) for d in (0, 1)]


def test_one_window_per_month_and_nothing_from_the_test_month_or_later() -> None:
    windows = plan_windows(
        DAYS, dt.date(2018, 3, 1), dt.date(2018, 6, 30), min_history_days=16, combine_share=0.25
    )
    assert [(w.test_from.month, w.test_to.month) for w in windows] == [(m, m) for m in (3, 4, 5, 6)]
    for w in windows:
        assert w.train_from == DAYS[0]
        assert w.train_from <= w.valid_from <= w.train_to < w.combine_from <= w.combine_to
        assert w.combine_to < w.test_from
        history = [d for d in DAYS if d < w.test_from]
        assert w.combine_to == history[-1]  # the model sees every day up to the month
        combine_days = [d for d in history if d >= w.combine_from]
        assert len(combine_days) == max(2, round(len(history) * 0.25))


def test_the_period_bounds_cut_the_first_and_last_month() -> None:
    windows = plan_windows(
        DAYS, dt.date(2018, 3, 10), dt.date(2018, 4, 8), min_history_days=16, combine_share=0.25
    )
    assert windows[0].test_from == dt.date(2018, 3, 10)
    assert windows[-1].test_to == dt.date(2018, 4, 8)


def test_too_little_history_is_refused_with_the_month() -> None:
    with pytest.raises(KeibaError, match=r"2018-02 has 8 race days before it"):
        plan_windows(
            DAYS,
            dt.date(2018, 2, 1),
            dt.date(2018, 3, 31),
            min_history_days=16,
            combine_share=0.25,
        )


def test_empty_and_reversed_periods_are_refused() -> None:
    with pytest.raises(KeibaError, match="no race days"):
        plan_windows(
            DAYS, dt.date(2019, 3, 1), dt.date(2019, 3, 31), min_history_days=2, combine_share=0.25
        )
    with pytest.raises(KeibaError, match="before --from"):
        plan_windows(
            DAYS, dt.date(2018, 5, 1), dt.date(2018, 3, 1), min_history_days=2, combine_share=0.25
        )


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBWarehouse]:
    warehouse = DuckDBWarehouse(tmp_path_factory.mktemp("wf") / "w.duckdb")
    load_sample(warehouse)
    yield warehouse
    warehouse.close()


def _first_race(warehouse: DuckDBWarehouse) -> tuple[str, list[int], list[float]]:
    runners = warehouse.query(
        "SELECT race_id, horse_no, win_odds_final FROM runners WHERE race_id = "
        "(SELECT min(race_id) FROM races WHERE race_date = '2018-03-03' AND venue_code = "
        "(SELECT min(venue_code) FROM races WHERE race_date = '2018-03-03') AND race_no = 1) "
        "ORDER BY horse_no"
    )
    return runners["race_id"][0], runners["horse_no"].to_list(), runners["win_odds_final"].to_list()


def test_odds_known_at_decision_time_and_nothing_later(sample_warehouse: DuckDBWarehouse) -> None:
    """A snapshot before the decision prices it; one taken after the decision is never used."""
    race_id, horses, final = _first_race(sample_warehouse)
    decided_at = dt.datetime(2018, 3, 3, 0, 55, tzinfo=dt.UTC)  # R1 10:00 JST − 5 minutes
    rows = []
    for minutes, offset in ((-30, 0.5), (-5, 1.0), (2, 3.0)):  # 2 minutes after: later money
        rows += [
            {
                "race_id": race_id,
                "bet_type": "win",
                "combination": str(h),
                "odds": round(o + offset, 1),
                "as_of": decided_at + dt.timedelta(minutes=minutes),
                "stage": "interim",
            }
            for h, o in zip(horses, final, strict=True)
        ]
    sample_warehouse.load({"odds": contract_frame(table("odds"), rows)})
    priced = priced_races(
        sample_warehouse, dt.date(2018, 3, 3), dt.date(2018, 3, 3), BacktestConfig()
    ).frame
    race = priced.filter(pl.col("race_id") == race_id).sort("horse_no")
    assert race["decision_at"][0] == decided_at
    assert race["odds_source"].unique().to_list() == ["snapshot"]
    assert race["decision_odds"].to_list() == [round(o + 1.0, 1) for o in final]
    assert race["final_odds"].to_list() == final
    others = priced.filter(pl.col("race_id") != race_id)
    assert set(others["odds_source"]) == {"final+drift"}
    # the market probabilities at decision time come from the decision odds
    inverse = [1 / (o + 1.0) for o in final]
    assert race["p_market"].to_list() == pytest.approx([x / sum(inverse) for x in inverse])


def test_drifted_exotic_odds_do_not_depend_on_the_order_the_rows_were_stored() -> None:
    """Final quinella odds moved by the drift model: each combination gets the same move
    whatever order the warehouse returns the rows in."""
    world = make_world(seed=3, n_days=1, venues_per_day=1, races_per_venue=3)
    starters = world["runners"].filter(pl.col("win_odds_final").is_not_null())
    rows = [
        {
            "race_id": race_id,
            "bet_type": "quinella",
            "combination": f"{a}-{b}",
            "odds": 5.0 + a + b / 10,
            "as_of": world["odds"].filter(pl.col("race_id") == race_id)["as_of"][0],
            "stage": "final",
        }
        for (race_id,), race in starters.group_by("race_id", maintain_order=True)
        for a, b in itertools.combinations(sorted(race["horse_no"].to_list()), 2)
    ]
    day = world["races"]["race_date"][0]
    config = BacktestConfig(pools=(BetType.WIN, BetType.QUINELLA))
    exotic = []
    for ordered in (rows, rows[::-1]):
        odds = pl.concat([world["odds"], contract_frame(table("odds"), ordered)])
        warehouse = warehouse_of({**world, "odds": odds})
        exotic.append(priced_races(warehouse, day, day, config).exotic_odds)
        warehouse.close()
    assert exotic[0].keys() == set(starters["race_id"])
    assert exotic[0] == exotic[1]

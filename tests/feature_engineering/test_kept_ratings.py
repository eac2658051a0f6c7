"""The `rating` group's state kept for a race day: the day's builds read it instead of passing
over every earlier start, their features equal the full passage's exactly, and a state is read
only for the day, the history, the feature version and the code it was computed from. BigQuery
(the emulator) gives the state back to the bit."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_series_equal

import bq_emulator
from feature_engineering.synthetic import RecordingWarehouse, make_world
from feature_engineering.test_card_features import (
    StoppingWarehouse,
    cards_of,
    days_of,
    races_on,
    up_to,
    warehouse_with_cards,
)
from keiba.common.schema import CONTRACT_TABLES
from keiba.common.storage.warehouse import Warehouse
from keiba.feature_engineering import (
    ENTRIES_TABLE,
    HISTORY_KEY_TABLE,
    RATINGS_KEY_TABLE,
    RATINGS_TABLE,
    build_features_for_entries,
    prepare_race_day,
)
from keiba.feature_engineering.definitions import starts_sql
from keiba.feature_engineering.ratings import (
    RATING_COLUMNS,
    day_rating_features,
    rating_features,
    rating_state,
    state_frame,
    state_of,
)

Frames = dict[str, pl.DataFrame]
KEYS = ["race_id", "horse_no"]
STATE_SQL = starts_sql(cards=True, until=True, dates="<")
"""The query of the starts a day's state is learned from."""


@pytest.fixture(scope="module")
def world() -> Frames:
    return make_world(seed=5, n_days=14, scratch_rate=0.08)


def built(warehouse: Warehouse, day: dt.date) -> pl.DataFrame:
    return warehouse.query(
        f"SELECT race_id, horse_no, {', '.join(RATING_COLUMNS)} FROM features "
        "WHERE race_date = ? ORDER BY race_id, horse_no",
        [day],
    )


def full_passage(warehouse: Warehouse, day: dt.date, at: dt.datetime) -> pl.DataFrame:
    """The rating features of `day`'s starters from a passage over every start up to the day,
    as the warehouse stands (cards read as of `at`): no state kept."""
    starts = warehouse.query(starts_sql(cards=True, until=True, dates="<="), [at, day])
    on_day = starts.filter(pl.col("day_no") == starts["day_no"].max())
    return rating_features(starts).join(on_day.select(KEYS), on=KEYS).sort(KEYS)


def assert_exactly(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.select(KEYS).equals(want.select(KEYS))
    for column in RATING_COLUMNS:
        assert_series_equal(got[column], want[column], check_exact=True)


def build_one_by_one(warehouse: Warehouse, race_ids: list[str], at: dt.datetime) -> None:
    for race_id in race_ids:
        build_features_for_entries(warehouse, [race_id], at)


def last_card(cards: pl.DataFrame) -> dt.datetime:
    at = cards["as_of"].max()
    assert isinstance(at, dt.datetime)
    return at


def results_of(world: Frames, race_ids: list[str]) -> Frames:
    """Every contract row of the races: their results as the collector loads them."""
    return {name: frame.filter(pl.col("race_id").is_in(race_ids)) for name, frame in world.items()}


def test_a_days_races_built_one_by_one_and_the_next_days_equal_the_full_passage(
    world: Frames,
) -> None:
    first, second = days_of(world)[-3:-1]
    first_cards = cards_of(world, races_on(world, first))
    second_cards = cards_of(world, races_on(world, second))
    at = last_card(first_cards)
    with warehouse_with_cards(up_to(world, first), first_cards) as inner:
        warehouse = RecordingWarehouse(inner)
        for race_id in races_on(world, first):  # each race's result comes in after it is run
            build_features_for_entries(warehouse, [race_id], at)
            warehouse.load(results_of(world, [race_id]))
        assert_exactly(built(warehouse, first), full_passage(warehouse, first, at))
        assert warehouse.statements.count(STATE_SQL) == 1  # learned once, read by every race
        warehouse.write_table(ENTRIES_TABLE, pl.concat([first_cards, second_cards]))
        at = last_card(second_cards)
        build_one_by_one(warehouse, races_on(world, second), at)
        assert_exactly(built(warehouse, second), full_passage(warehouse, second, at))
        assert warehouse.statements.count(STATE_SQL) == 2
        key = warehouse.query(f"SELECT race_date FROM {RATINGS_KEY_TABLE}")
        assert key["race_date"].to_list() == [second]


def a_race_of_the_days_horses(world: Frames, day: dt.date) -> str:
    """The latest race before `day` in which a horse that runs on `day` ran."""
    runs = world["runners"].join(world["races"].select("race_id", "race_date"), on="race_id")
    today = runs.filter(pl.col("race_date") == day)["horse_id"].implode()
    earlier = runs.filter((pl.col("race_date") < day) & pl.col("horse_id").is_in(today))
    return str(earlier.sort("race_date", "race_id")["race_id"][-1])


def test_a_result_of_an_earlier_day_loaded_during_the_day_is_learned_by_the_next_build(
    world: Frames,
) -> None:
    day = days_of(world)[-2]
    late = a_race_of_the_days_horses(world, day)
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    at = last_card(cards)
    frames = {name: f.filter(pl.col("race_id") != late) for name, f in up_to(world, day).items()}
    with warehouse_with_cards(frames, cards) as warehouse:
        build_one_by_one(warehouse, race_ids[:4], at)
        before = built(warehouse, day)
        warehouse.load(results_of(world, [late]))
        build_one_by_one(warehouse, race_ids, at)
        after = built(warehouse, day)
        assert_exactly(after, full_passage(warehouse, day, at))
    moved = after.join(before, on=KEYS, suffix="_before").filter(
        pl.col("rating_horse").ne_missing(pl.col("rating_horse_before"))
    )
    assert moved.height > 0  # the late result mattered to the day's features


@pytest.mark.parametrize(
    "column",
    [None, "race_date", "query_sha256", "starts", "digest", "feature_version", "code_sha256"],
)
def test_a_kept_state_is_read_only_under_its_own_key(world: Frames, column: str | None) -> None:
    day = days_of(world)[-2]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    at = last_card(cards)
    with warehouse_with_cards(up_to(world, day), cards) as warehouse:
        build_features_for_entries(warehouse, race_ids[:1], at)
        state = warehouse.query(f"SELECT * FROM {RATINGS_TABLE}")
        warehouse.write_table(RATINGS_TABLE, state.with_columns(pl.col("mean") + 0.5))
        if column is not None:
            key = warehouse.query(f"SELECT * FROM {RATINGS_KEY_TABLE}")
            warehouse.write_table(RATINGS_KEY_TABLE, key.with_columns(_altered(key[column])))
        build_one_by_one(warehouse, race_ids, at)
        got, want = built(warehouse, day), full_passage(warehouse, day, at)
    if column is None:  # the key is the day's: the (tampered) state is read as it was kept
        assert not got["rating_total"].equals(want["rating_total"])
    else:
        assert_exactly(got, want)


def _altered(values: pl.Series) -> pl.Series:
    """The key's column with a value of another day, history, version or code."""
    if values.dtype == pl.Date:
        return values - dt.timedelta(days=7)
    if values.dtype.is_integer():
        return values + 1
    return values + "-other"


def test_a_build_stopped_while_keeping_the_state_leaves_no_key_behind(world: Frames) -> None:
    day = days_of(world)[-2]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    at = last_card(cards)
    with warehouse_with_cards(up_to(world, day), cards) as warehouse:
        with pytest.raises(RuntimeError, match="stopped"):
            build_features_for_entries(StoppingWarehouse(warehouse, RATINGS_TABLE), race_ids, at)
        assert warehouse.query(f"SELECT * FROM {RATINGS_KEY_TABLE}").is_empty()
        build_one_by_one(warehouse, race_ids, at)
        assert_exactly(built(warehouse, day), full_passage(warehouse, day, at))


def test_newcomers_of_the_day_are_read_at_the_prior_from_a_stored_state() -> None:
    starts = pl.DataFrame(
        {
            "race_id": ["r1"] * 3 + ["r2"] * 3 + ["r3"] * 4,
            "horse_no": [1, 2, 3, 1, 2, 3, 1, 2, 3, 4],
            "day_no": [0, 0, 0, 7, 7, 7, 14, 14, 14, 14],
            # "ab" and "x2" sort among the known keys, "zz" after them
            "horse_key": ["a", "b", "c", "c", "a", "b", "ab", "c", "a", "zz"],
            "jockey_key": ["x", "y", "z", "x", "y", None, "x2", "y", "x", "z"],
            "trainer_key": [None] * 10,
            "surface": ["turf"] * 6 + ["dirt"] * 4,
            "distance_m": [1600] * 3 + [2000] * 3 + [1800] * 4,
            "finish_pos": [1, 2, 3, 2, 1, 3, None, None, None, None],
            "win_odds": [8.0, 2.0, 4.0, 3.0, 2.5, 6.0, None, None, None, None],
        },
        schema_overrides={"trainer_key": pl.String, "finish_pos": pl.Int64},
    )
    earlier = starts.filter(pl.col("day_no") < 14)
    stored = state_frame(rating_state(earlier.reverse()))
    kept = state_of(stored.sample(fraction=1.0, shuffle=True, seed=2))  # rows in any order
    got = day_rating_features(kept, starts.filter(pl.col("day_no") == 14))
    want = rating_features(starts).filter(pl.col("race_id") == "r3")
    assert_exactly(got, want)
    assert got["rating_horse"].is_null().to_list() == [True, False, False, True]
    with pytest.raises(ValueError, match="one day"):
        day_rating_features(kept, starts)


def test_a_kept_state_reads_back_from_bigquery_to_the_bit(bq_emulator_url: str) -> None:
    from keiba.common.storage.bigquery import BigQueryWarehouse, bigquery_client

    world = make_world(seed=5, n_days=8, scratch_rate=0.08)
    day = days_of(world)[-2]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    at = last_card(cards)
    frames = up_to(world, day)
    client = bigquery_client(bq_emulator.PROJECT, endpoint=bq_emulator_url)
    with BigQueryWarehouse(client, dataset="kept_ratings", prefix="k_") as warehouse:
        warehouse.load({t.name: frames[t.name] for t in CONTRACT_TABLES if t.name in frames})
        warehouse.write_table(ENTRIES_TABLE, cards)
        build_one_by_one(warehouse, race_ids[:3], at)  # the first keeps the state, two read it
        got = built(warehouse, day)
        want = full_passage(warehouse, day, at).filter(pl.col("race_id").is_in(race_ids[:3]))
        assert warehouse.query(f"SELECT race_date FROM {RATINGS_KEY_TABLE}").height == 1
    assert_exactly(got, want)


def test_a_race_day_prepared_at_its_start_builds_its_races_from_what_it_kept(
    world: Frames,
) -> None:
    day = days_of(world)[-2]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    at = last_card(cards)
    with warehouse_with_cards(up_to(world, day), cards) as inner:
        warehouse = RecordingWarehouse(inner)
        prepare_race_day(warehouse, day, at - dt.timedelta(hours=2))
        assert warehouse.statements.count(STATE_SQL) == 1
        history = warehouse.query(f"SELECT race_date FROM {HISTORY_KEY_TABLE}")
        assert history["race_date"].to_list() == [day]
        prepare_race_day(warehouse, day, at - dt.timedelta(hours=1))  # kept: nothing again
        build_one_by_one(warehouse, race_ids, at)
        assert warehouse.statements.count(STATE_SQL) == 1  # no decision passed over history
        assert_exactly(built(warehouse, day), full_passage(warehouse, day, at))

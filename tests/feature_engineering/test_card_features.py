"""Features of races known only by their card (`entries`), and of a few races built alone."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from feature_engineering.synthetic import (
    RecordingWarehouse,
    assert_transpiles_to_bigquery,
    make_world,
    warehouse_of,
)
from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.netkeiba_ingest import ENTRIES_COLUMNS
from keiba.feature_engineering import (
    ENTRIES_TABLE,
    build_features,
    build_features_for_entries,
    read_features,
)

Frames = dict[str, pl.DataFrame]
CARD_LEAD = dt.timedelta(minutes=30)


@pytest.fixture(scope="module")
def world() -> Frames:
    return make_world(seed=5, n_days=14, scratch_rate=0.08)


@pytest.fixture(scope="module")
def full(world: Frames) -> pl.DataFrame:
    return features_of(world)


def days_of(world: Frames) -> list[dt.date]:
    return sorted(world["races"]["race_date"].unique().to_list())


def races_on(world: Frames, day: dt.date) -> list[str]:
    return world["races"].filter(pl.col("race_date") == day)["race_id"].to_list()


def cards_of(world: Frames, race_ids: list[str], lead: dt.timedelta = CARD_LEAD) -> pl.DataFrame:
    """The races' cards as the collector writes them, fetched `lead` before post time."""
    runners = world["runners"].filter(pl.col("race_id").is_in(race_ids))
    joined = runners.join(world["races"], on="race_id", suffix="_race")
    return joined.with_columns(
        pl.when(pl.col("status").is_in(["scratched", "excluded"]))
        .then(pl.col("status"))
        .otherwise(pl.lit("declared"))
        .alias("status"),
        pl.len().over("race_id").alias("field_size"),
        (pl.col("post_time") - lead).alias("as_of"),
        pl.lit("test").alias("source"),
    ).select(list(ENTRIES_COLUMNS))


def without_results(world: Frames, race_ids: list[str], *, keep_races: bool = False) -> Frames:
    """The world with those races not run yet (their `races` rows kept if `keep_races`)."""
    gone = pl.col("race_id").is_in(race_ids)
    return {
        name: frame if name == "races" and keep_races else frame.filter(~gone)
        for name, frame in world.items()
    }


def warehouse_with_cards(frames: Frames, cards: pl.DataFrame) -> DuckDBWarehouse:
    warehouse = warehouse_of(frames)
    warehouse.write_table(ENTRIES_TABLE, cards)
    return warehouse


def features_of(frames: Frames, cards: pl.DataFrame | None = None) -> pl.DataFrame:
    warehouse = warehouse_of(frames) if cards is None else warehouse_with_cards(frames, cards)
    try:
        build_features(warehouse)
        return warehouse.query("SELECT * FROM features ORDER BY race_id, horse_no")
    finally:
        warehouse.close()


def assert_same(left: pl.DataFrame, right: pl.DataFrame) -> None:
    assert_frame_equal(left, right, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize(("day_index", "keep_races"), [(5, False), (11, True)])
def test_a_starters_features_are_the_same_from_its_card_and_from_its_result(
    world: Frames, full: pl.DataFrame, day_index: int, keep_races: bool
) -> None:
    """Day D known only by its cards (later days not at all) gives D the rows the results give."""
    day = days_of(world)[day_index]
    on_day = races_on(world, day)
    upto = world["races"].filter(pl.col("race_date") <= day)["race_id"].to_list()
    before = without_results(
        {name: frame.filter(pl.col("race_id").is_in(upto)) for name, frame in world.items()},
        on_day,
        keep_races=keep_races,
    )
    cards = cards_of(world, on_day)
    assert cards.filter(pl.col("status") != "declared").height > 0  # withdrawals are left out
    got = features_of(before, cards)
    expected = full.filter(pl.col("race_date") <= day)
    assert (
        got.filter(pl.col("race_date") == day).height
        == expected.filter(pl.col("race_date") == day).height
        == cards.filter(pl.col("status") == "declared").height
    )
    assert_same(got, expected)


def test_a_card_changes_nothing_once_the_race_has_a_result(
    world: Frames, full: pl.DataFrame
) -> None:
    day = days_of(world)[7]
    cards = cards_of(world, races_on(world, day)).with_columns(
        pl.col("body_weight_kg") + 30, pl.lit("scratched").alias("status")
    )
    assert_same(features_of(world, cards), full)


def test_a_withdrawal_on_the_card_leaves_the_runner_out_and_shrinks_the_field(
    world: Frames,
) -> None:
    day = days_of(world)[9]
    race_id = races_on(world, day)[0]
    frames = without_results(world, [race_id])
    cards = cards_of(world, [race_id])
    first = cards.filter(pl.col("status") == "declared")["horse_no"][0]
    late = cards.with_columns(
        pl.when(pl.col("horse_no") == first)
        .then(pl.lit("excluded"))
        .otherwise(pl.col("status"))
        .alias("status")
    )
    before = features_of(frames, cards).filter(pl.col("race_id") == race_id)
    after = features_of(frames, late).filter(pl.col("race_id") == race_id)
    assert after["horse_no"].to_list() == [h for h in before["horse_no"] if h != first]
    assert after["field_size"].to_list() == [before.height - 1.0] * after.height


def test_a_few_races_built_alone_equal_the_full_build_and_replace_only_their_rows(
    world: Frames, full: pl.DataFrame
) -> None:
    days = days_of(world)
    card_day, result_day = days[-1], days[-3]
    warehouse = warehouse_with_cards(
        without_results(world, races_on(world, card_day)),
        cards_of(world, races_on(world, card_day)),
    )
    with warehouse:
        build_features(warehouse)
        whole = warehouse.query("SELECT * FROM features ORDER BY race_id, horse_no")
        assert_same(whole, full)
        # rows of other races stay as they are, the targets' rows are computed afresh
        warehouse.write_table("features", whole.with_columns(pl.lit(-1.0).alias("age")))
        targets = [*races_on(world, card_day), *races_on(world, result_day)]
        latest_card = world["races"]["post_time"].max()
        assert isinstance(latest_card, dt.datetime)
        written = build_features_for_entries(warehouse, targets, latest_card)
        after = warehouse.query("SELECT * FROM features ORDER BY race_id, horse_no")
    mine = pl.col("race_id").is_in(targets)
    assert written == full.filter(mine).height
    assert_same(after.filter(mine), full.filter(mine))
    assert (after.filter(~mine)["age"] == -1.0).all()
    assert after.height == full.height


def test_no_card_fetched_after_the_as_of_is_read(world: Frames) -> None:
    day = days_of(world)[-1]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    first_fetch = cards["as_of"].min()
    assert isinstance(first_fetch, dt.datetime)
    with warehouse_with_cards(without_results(world, race_ids), cards) as warehouse:
        before = build_features_for_entries(warehouse, race_ids, first_fetch - dt.timedelta(1))
        assert before == 0
        assert not warehouse.has_table("features") or read_features(warehouse, day, day).is_empty()
        at_first = build_features_for_entries(warehouse, race_ids, first_fetch)
        fetched = cards.filter(pl.col("as_of") == first_fetch)
        assert at_first == fetched.filter(pl.col("status") == "declared").height
        with pytest.raises(ValueError, match="timezone-aware"):
            build_features_for_entries(warehouse, race_ids, dt.datetime(2021, 1, 1))


def test_the_card_and_single_race_queries_transpile_to_bigquery(world: Frames) -> None:
    day = days_of(world)[-1]
    race_ids = races_on(world, day)
    frames = without_results(world, race_ids)
    recording = RecordingWarehouse(warehouse_with_cards(frames, cards_of(world, race_ids)))
    build_features(recording)
    build_features_for_entries(recording, race_ids, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert_transpiles_to_bigquery(recording.statements)
    recording.close()

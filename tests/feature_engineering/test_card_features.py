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
    HISTORY_KEY_TABLE,
    HISTORY_TABLE,
    build_features,
    build_features_for_entries,
    read_features,
)
from keiba.feature_engineering.ratings import RATING_COLUMNS

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


def up_to(world: Frames, day: dt.date) -> Frames:
    """The world as it stands on `day`: no races after it, the day's own not run yet."""
    known = world["races"].filter(pl.col("race_date") <= day)["race_id"]
    frames = {name: frame.filter(pl.col("race_id").is_in(known)) for name, frame in world.items()}
    return without_results(frames, races_on(world, day))


def features_on(warehouse: DuckDBWarehouse, day: dt.date) -> pl.DataFrame:
    return warehouse.query(
        "SELECT * FROM features WHERE race_date = ? ORDER BY race_id, horse_no", [day]
    )


def build_one_by_one(warehouse: DuckDBWarehouse, race_ids: list[str], at: dt.datetime) -> None:
    for race_id in race_ids:
        build_features_for_entries(warehouse, [race_id], at)


def test_a_days_races_built_one_by_one_share_its_history_and_equal_the_full_build(
    world: Frames, full: pl.DataFrame
) -> None:
    day = days_of(world)[-2]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    with warehouse_with_cards(up_to(world, day), cards) as warehouse:
        build_one_by_one(warehouse, race_ids, cards["as_of"].max())
        assert_same(features_on(warehouse, day), full.filter(pl.col("race_date") == day))
        key = warehouse.query(f"SELECT race_date FROM {HISTORY_KEY_TABLE}")
        assert key["race_date"].to_list() == [day]


def last_winner_disqualified(world: Frames, cards: pl.DataFrame) -> tuple[Frames, str]:
    """The world with a starter on the cards whose last run was a win disqualified in that
    run, and that run's race."""
    runs = world["runners"].join(world["races"].select("race_id", "race_date"), on="race_id")
    starting = cards.filter(pl.col("status") == "declared")["horse_id"].implode()
    last = (
        runs.filter(
            pl.col("horse_id").is_in(starting) & (pl.col("race_date") < cards["race_date"].min())
        )
        .sort("horse_id", "race_date")
        .group_by("horse_id", maintain_order=True)
        .last()
        .filter(pl.col("finish_pos") == 1)
    )
    assert last.height > 0
    race_id, horse_id = last.row(0, named=True)["race_id"], last.row(0, named=True)["horse_id"]
    hit = (pl.col("race_id") == race_id) & (pl.col("horse_id") == horse_id)
    runners = world["runners"].with_columns(
        pl.when(hit).then(pl.lit("disqualified")).otherwise(pl.col("status")).alias("status"),
        pl.when(hit).then(None).otherwise(pl.col("finish_pos")).alias("finish_pos"),
    )
    return {**world, "runners": runners}, race_id


class StoppingWarehouse(RecordingWarehouse):
    """A warehouse whose process stops (raises) when asked to write one table."""

    def __init__(self, inner: DuckDBWarehouse, stop_at: str) -> None:
        super().__init__(inner)
        self.stop_at = stop_at

    def write_table(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        replace: bool = True,
        replace_by: str | tuple[str, ...] | None = None,
    ) -> None:
        if name == self.stop_at:
            raise RuntimeError(f"stopped before writing {name}")
        super().write_table(name, frame, replace=replace, replace_by=replace_by)


def test_the_shared_history_is_computed_again_when_an_earlier_result_changes(
    world: Frames,
) -> None:
    day = days_of(world)[-2]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    changed, past = last_winner_disqualified(world, cards)
    with warehouse_with_cards(up_to(world, day), cards) as warehouse:
        build_one_by_one(warehouse, race_ids, cards["as_of"].max())
        before = features_on(warehouse, day)
        warehouse.load({"runners": changed["runners"].filter(pl.col("race_id") == past)})
        build_one_by_one(warehouse, race_ids, cards["as_of"].max())
        after = features_on(warehouse, day)
    assert not before.equals(after)
    assert_same(after, features_of(changed).filter(pl.col("race_date") == day))


def test_a_build_stopped_while_storing_the_history_leaves_no_key_behind(world: Frames) -> None:
    day = days_of(world)[-2]
    race_ids = races_on(world, day)
    cards = cards_of(world, race_ids)
    changed, past = last_winner_disqualified(world, cards)
    at = cards["as_of"].max()
    with warehouse_with_cards(up_to(world, day), cards) as warehouse:
        build_features_for_entries(warehouse, race_ids, at)
        warehouse.load({"runners": changed["runners"].filter(pl.col("race_id") == past)})
        with pytest.raises(RuntimeError, match="stopped"):
            build_features_for_entries(StoppingWarehouse(warehouse, HISTORY_TABLE), race_ids, at)
        assert warehouse.query(f"SELECT * FROM {HISTORY_KEY_TABLE}").is_empty()
        build_features_for_entries(warehouse, race_ids, at)
        assert warehouse.query(f"SELECT * FROM {HISTORY_KEY_TABLE}").height == 1
        got = features_on(warehouse, day)
    assert_same(got, features_of(changed).filter(pl.col("race_date") == day))


def test_a_features_table_of_another_version_is_built_again_before_a_few_races(
    world: Frames, full: pl.DataFrame
) -> None:
    day = days_of(world)[-1]
    targets = races_on(world, day)
    with warehouse_with_cards(world, cards_of(world, targets)) as warehouse:
        build_features(warehouse)
        older = warehouse.query("SELECT * FROM features").drop(RATING_COLUMNS)
        warehouse.write_table("features", older)  # as an earlier version left it
        latest_card = world["races"]["post_time"].max()
        assert isinstance(latest_card, dt.datetime)
        build_features_for_entries(warehouse, targets, latest_card)
        after = warehouse.query("SELECT * FROM features ORDER BY race_id, horse_no")
    assert after.columns == full.columns
    assert_same(after, full)

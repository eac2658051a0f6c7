"""Point-in-time features: shape, hand-checkable values, and leakage."""

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
from keiba.feature_engineering import (
    FEATURE_COLUMNS,
    FEATURE_GROUPS,
    FEATURE_VERSION,
    build_features,
    columns_without,
    feature_sql,
    read_features,
)

Frames = dict[str, pl.DataFrame]

COUNT_FEATURES = {
    "horse_starts",
    "horse_surface_starts",
    "jockey_rides_365d",
    "jockey_surface_rides_365d",
    "trainer_runners_365d",
    "horse_starts_90d",
    "jockey_rides_30d",
    "pair_rides_365d",
    "field_front_runners",
    "rating_starts",
}
PRIOR_FEATURES = {"rating_horse_sd", "rating_total", "rating_logp", "rating_market_logp"}
"""Ratings without history are the prior's: sd 1, strength 0, every starter equally likely."""
PRE_RACE_FEATURES = {
    "weight_carried_kg",
    "weight_carried_kg_rank",
    "weight_carried_kg_z",
    "body_weight_kg",
    "body_weight_diff_kg",
    "age",
    "sex_code",
    "frame_no",
    "horse_number",
    "field_size",
    "distance_m",
    "surface_code",
    "class_level",
}
HISTORY_FEATURES = [
    c
    for c in FEATURE_COLUMNS
    if c not in COUNT_FEATURES and c not in PRE_RACE_FEATURES and c not in PRIOR_FEATURES
]
RESULT_COLUMNS = {
    "finish_pos": None,
    "finish_time_s": None,
    "margin": None,
    "passing": None,
    "last_3f_s": None,
    "win_odds_final": None,
    "popularity": None,
}


def features_of(frames: Frames) -> pl.DataFrame:
    warehouse = warehouse_of(frames)
    try:
        build_features(warehouse)
        return warehouse.query("SELECT * FROM features ORDER BY race_id, horse_no")
    finally:
        warehouse.close()


def race_days(frames: Frames) -> list[dt.date]:
    return sorted(frames["races"]["race_date"].unique().to_list())


def races_where(frames: Frames, predicate: pl.Expr) -> list[str]:
    return frames["races"].filter(predicate)["race_id"].to_list()


def restrict(frames: Frames, race_ids: list[str]) -> Frames:
    return {name: f.filter(pl.col("race_id").is_in(race_ids)) for name, f in frames.items()}


def assert_same(left: pl.DataFrame, right: pl.DataFrame) -> None:
    assert_frame_equal(left, right, rel_tol=1e-9, abs_tol=1e-9)  # features are rounded to 1e-9


@pytest.fixture(scope="module")
def world() -> Frames:
    return make_world(seed=3, n_days=16)


@pytest.fixture(scope="module")
def features(world: Frames) -> pl.DataFrame:
    return features_of(world)


def test_one_row_per_starter_with_the_declared_columns(
    world: Frames, features: pl.DataFrame
) -> None:
    starters = world["runners"].filter(~pl.col("status").is_in(["scratched", "excluded"]))
    assert features.height == starters.height
    assert features.select("race_id", "horse_no").equals(
        starters.select("race_id", "horse_no").sort("race_id", "horse_no")
    )
    assert features.columns == [
        "race_id",
        "horse_no",
        "race_date",
        "feature_version",
        "as_of",
        *FEATURE_COLUMNS,
    ]
    assert features.schema["as_of"] == pl.Datetime("us", "UTC")
    assert all(features.schema[c] == pl.Float64 for c in FEATURE_COLUMNS)
    assert features["feature_version"].unique().to_list() == [FEATURE_VERSION]
    assert "win_odds_final" not in FEATURE_COLUMNS
    assert "popularity" not in FEATURE_COLUMNS


def test_as_of_is_post_time_or_midnight_jst(world: Frames) -> None:
    race_id = world["races"]["race_id"][0]
    races = world["races"].with_columns(
        pl.when(pl.col("race_id") == race_id)
        .then(None)
        .otherwise(pl.col("post_time"))
        .alias("post_time")
    )
    f = features_of({**world, "races": races})
    joined = f.join(races.select("race_id", "post_time", "race_date"), on=["race_id", "race_date"])
    timed = joined.filter(pl.col("post_time").is_not_null())
    assert (timed["as_of"] == timed["post_time"]).all()
    untimed = joined.filter(pl.col("race_id") == race_id)
    day = untimed["race_date"][0]
    midnight_jst = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - dt.timedelta(hours=9)
    assert (untimed["as_of"] == midnight_jst).all()


def test_feature_sql_transpiles_to_bigquery(world: Frames) -> None:
    recording = RecordingWarehouse(warehouse_of(restrict(world, world["races"]["race_id"][:3])))
    build_features(recording)
    read_features(recording, dt.date(2021, 1, 1), dt.date(2021, 12, 31))
    assert feature_sql() in recording.statements
    assert_transpiles_to_bigquery(recording.statements)


def test_empty_warehouse_gives_an_empty_typed_table() -> None:
    warehouse = DuckDBWarehouse(None)
    assert build_features(warehouse) == 0
    assert read_features(warehouse).columns[5:] == list(FEATURE_COLUMNS)


def test_debut_runners_have_null_history_and_zero_counts(
    world: Frames, features: pl.DataFrame
) -> None:
    first_day = features.filter(pl.col("race_date") == race_days(world)[0])
    assert first_day.height > 0
    for column in HISTORY_FEATURES:
        assert first_day[column].null_count() == first_day.height, column
    for column in COUNT_FEATURES:
        assert (first_day[column] == 0).all(), column
    assert (first_day["rating_horse_sd"] == 1.0).all()
    assert (first_day["rating_total"] == 0.0).all()
    uniform = -first_day["field_size"].log()
    assert (first_day["rating_logp"] - uniform).abs().max() < 1e-8  # type: ignore[operator]
    assert (first_day["rating_market_logp"] - uniform).abs().max() < 1e-8  # type: ignore[operator]
    # A horse debuting later: null history while others in its race have some.
    later = features.filter(
        (pl.col("horse_starts") == 0) & (pl.col("race_date") > race_days(world)[0])
    )
    assert later.height > 0
    for column in (c for c in HISTORY_FEATURES if c.startswith("horse_")):
        assert later[column].null_count() == later.height, column
    assert later["horse_surface_starts"].eq(0).all()


def _reference(world: Frames) -> pl.DataFrame:
    """A few features recomputed in polars, independently of the SQL."""
    starts = (
        world["runners"]
        .filter(~pl.col("status").is_in(["scratched", "excluded"]))
        .join(world["races"].select("race_id", "race_date"), on="race_id")
        .with_columns(n=pl.len().over("race_id"))
        .with_columns(pct=pl.col("finish_pos") / pl.col("n"))
        .select("race_id", "horse_no", "race_date", "horse_id", "jockey_id", "finish_pos", "pct")
    )
    horse = (
        starts.join(starts, on="horse_id", suffix="_h")
        .filter(pl.col("race_date_h") < pl.col("race_date"))
        .sort("race_date_h", descending=True)
        .group_by("race_id", "horse_no", maintain_order=True)
        .agg(
            ref_starts=pl.len().cast(pl.Float64),
            ref_win_rate=(pl.col("finish_pos_h") == 1).mean(),
            ref_pct_last=pl.col("pct_h").first(),
            ref_pct_mean3=pl.col("pct_h").head(3).mean(),
            ref_days=(pl.col("race_date") - pl.col("race_date_h")).min().dt.total_days(),
        )
    )
    jockey = (
        starts.join(starts, on="jockey_id", suffix="_h")
        .filter(
            (pl.col("race_date_h") < pl.col("race_date"))
            & (pl.col("race_date_h") >= pl.col("race_date") - pl.duration(days=365))
        )
        .group_by("race_id", "horse_no")
        .agg(ref_jockey_rides=pl.len(), ref_jockey_win_rate=(pl.col("finish_pos_h") == 1).mean())
    )
    return (
        starts.select("race_id", "horse_no")
        .join(horse, on=["race_id", "horse_no"], how="left")
        .join(jockey, on=["race_id", "horse_no"], how="left")
        .with_columns(pl.col("ref_starts").fill_null(0.0), pl.col("ref_jockey_rides").fill_null(0))
    )


def test_values_match_an_independent_computation(world: Frames, features: pl.DataFrame) -> None:
    both = features.join(_reference(world), on=["race_id", "horse_no"], how="inner")
    assert both.height == features.height
    pairs = {
        "horse_starts": "ref_starts",
        "horse_win_rate": "ref_win_rate",
        "horse_finish_pct_last": "ref_pct_last",
        "horse_finish_pct_mean3": "ref_pct_mean3",
        "horse_days_since_last": "ref_days",
        "jockey_rides_365d": "ref_jockey_rides",
        "jockey_win_rate_365d": "ref_jockey_win_rate",
    }
    for ours, theirs in pairs.items():
        assert_same(
            both.select(pl.col(ours).alias("v")),
            both.select(pl.col(theirs).cast(pl.Float64).alias("v")),
        )


def test_race_relative_rank_and_z(features: pl.DataFrame) -> None:
    race = features.filter(pl.col("horse_speed_best5").is_not_null().sum().over("race_id") >= 4)
    whole = race.filter(pl.col("race_id") == race["race_id"][0])
    race = whole.drop_nulls("horse_speed_best5")
    best = race.sort("horse_speed_best5", descending=True).row(0, named=True)
    assert best["horse_speed_best5_rank"] == 1.0
    assert abs(race["horse_speed_best5_z"].mean()) < 1e-9  # type: ignore[arg-type]
    worst = whole.sort("horse_finish_pct_mean5", descending=True, nulls_last=True).row(
        0, named=True
    )
    assert worst["horse_finish_pct_mean5_rank"] == whole["horse_finish_pct_mean5"].count()


def test_features_do_not_depend_on_data_from_the_race_day_on(world: Frames) -> None:
    """Full data vs data truncated before day D (D's races kept as pre-race entries only)."""
    full = features_of(world)
    for day in race_days(world)[5::5]:
        before = races_where(world, pl.col("race_date") < day)
        on_day = races_where(world, pl.col("race_date") == day)
        truncated = restrict(world, before + on_day)
        truncated["runners"] = truncated["runners"].with_columns(
            pl.when(pl.col("race_id").is_in(on_day)).then(None).otherwise(pl.col(c)).alias(c)
            for c in RESULT_COLUMNS
        )
        for name in ("payouts", "odds"):
            truncated[name] = truncated[name].filter(~pl.col("race_id").is_in(on_day))
        upto = pl.col("race_date") <= day
        assert_same(features_of(truncated), full.filter(upto))


def test_later_results_change_nothing_earlier(world: Frames) -> None:
    day = race_days(world)[8]
    later = pl.col("race_id").is_in(races_where(world, pl.col("race_date") > day))
    runners = (
        world["runners"]
        .with_columns(
            pl.when(later)
            .then(pl.col(c).shuffle(seed=7).over("race_id"))
            .otherwise(pl.col(c))
            .alias(c)
            for c in ("finish_pos", "finish_time_s", "last_3f_s")
        )
        .with_columns(
            pl.when(later).then(pl.col("body_weight_kg") + 20).otherwise(pl.col("body_weight_kg")),
        )
    )
    altered = features_of({**world, "runners": runners})
    full = features_of(world)
    upto = pl.col("race_date") <= day
    assert_same(altered.filter(upto), full.filter(upto))
    assert not altered.filter(~upto).equals(full.filter(~upto))


def test_a_races_own_result_and_same_day_results_change_none_of_its_features(
    world: Frames,
) -> None:
    """Reverse the finishing order, change times, odds and payouts of every race on day D."""
    day = race_days(world)[10]
    on_day = pl.col("race_id").is_in(races_where(world, pl.col("race_date") == day))
    runners = world["runners"].with_columns(
        pl.when(on_day & pl.col("finish_pos").is_not_null())
        .then(pl.col("finish_pos").max().over("race_id") + 1 - pl.col("finish_pos"))
        .otherwise(pl.col("finish_pos"))
        .alias("finish_pos"),
        pl.when(on_day).then(pl.col("finish_time_s") * 1.1).otherwise(pl.col("finish_time_s")),
        pl.when(on_day).then(pl.col("last_3f_s") - 1.0).otherwise(pl.col("last_3f_s")),
        pl.when(on_day).then(pl.col("win_odds_final") * 3).otherwise(pl.col("win_odds_final")),
        pl.when(on_day).then(pl.col("popularity").fill_null(1)).otherwise(pl.col("popularity")),
    )
    payouts = world["payouts"].with_columns(
        pl.when(on_day).then(pl.col("payout_yen") * 2).otherwise(pl.col("payout_yen"))
    )
    odds = world["odds"].with_columns(
        pl.when(on_day).then(pl.col("odds") + 10).otherwise(pl.col("odds"))
    )
    altered = features_of({**world, "runners": runners, "payouts": payouts, "odds": odds})
    full = features_of(world)
    upto = pl.col("race_date") <= day
    assert_same(altered.filter(upto), full.filter(upto))
    assert not altered.filter(~upto).equals(full.filter(~upto))


def test_did_not_finish_counts_as_a_last_place_start(world: Frames) -> None:
    runners = world["runners"]
    first = runners.join(world["races"].select("race_id", "race_date"), on="race_id")
    day0 = race_days(world)[0]
    runs = pl.len().over("horse_id")
    target = first.filter(
        (pl.col("race_date") == day0) & (pl.col("finish_pos") == 1) & (runs >= 2)
    ).row(0, named=True)
    hit = (pl.col("race_id") == target["race_id"]) & (pl.col("horse_no") == target["horse_no"])
    changed = runners.with_columns(
        pl.when(hit).then(pl.lit("did_not_finish")).otherwise(pl.col("status")).alias("status"),
        pl.when(hit).then(None).otherwise(pl.col("finish_pos")).alias("finish_pos"),
        pl.when(hit).then(None).otherwise(pl.col("finish_time_s")).alias("finish_time_s"),
    )
    f = features_of({**world, "runners": changed})
    horse_races = first.filter(pl.col("horse_id") == target["horse_id"]).sort("race_date")
    next_start = horse_races.row(1, named=True)
    row = f.filter(
        (pl.col("race_id") == next_start["race_id"])
        & (pl.col("horse_no") == next_start["horse_no"])
    ).row(0, named=True)
    assert row["horse_starts"] == 1.0
    assert row["horse_finish_pct_last"] == 1.0
    assert row["horse_win_rate"] == 0.0
    assert row["horse_speed_last"] is None


def test_sparse_hand_made_races(tiny_world: Frames) -> None:
    """Runners without horse, jockey or trainer ids (names only, or nothing) still get rows."""
    f = features_of(tiny_world)
    assert f.height == 7  # the scratched runner has none
    assert f.filter(pl.col("race_id") == "2020010506010102")["field_size"].to_list() == [3.0] * 3
    assert (f["horse_starts"] == 0).all()
    assert f["jockey_rides_365d"].null_count() == f.height  # no jockey known at all
    assert f["trainer_win_rate_365d"].null_count() == f.height
    assert f["body_weight_kg"].null_count() == f.height


def test_rebuilding_gives_bit_identical_features() -> None:
    """Parallel float aggregation must not leak into features (or into model versions)."""
    from feature_engineering.synthetic import make_world, warehouse_of
    from keiba.feature_engineering import build_features

    warehouse = warehouse_of(
        make_world(seed=7, n_days=150, venues_per_day=3, races_per_venue=12, n_horses=3000)
    )
    warehouse.query("SET threads = 4")
    builds = []
    for _ in range(3):
        build_features(warehouse)
        builds.append(warehouse.query("SELECT * FROM features ORDER BY race_id, horse_no"))
    assert all(build.equals(builds[0]) for build in builds[1:])


def test_every_feature_is_in_exactly_one_group() -> None:
    grouped = [c for columns in FEATURE_GROUPS.values() for c in columns]
    assert sorted(grouped) == sorted(FEATURE_COLUMNS)
    assert all(FEATURE_GROUPS.values())
    for group, columns in FEATURE_GROUPS.items():
        kept = columns_without([group])
        assert set(kept) == set(FEATURE_COLUMNS) - set(columns)
        assert list(kept) == [c for c in FEATURE_COLUMNS if c in kept]  # the order is kept
    with pytest.raises(ValueError, match="unknown feature group nonsense"):
        columns_without(["form", "nonsense"])

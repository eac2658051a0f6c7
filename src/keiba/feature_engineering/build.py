"""Building the `features` table: run the feature query in the warehouse and store the result.

`build_features` recreates the whole table from the contract tables and the cards (features
are a pure function of them, so a rebuild is always safe); `build_features_for_entries`
computes a few races (the race day's, a few minutes before each decision) and replaces just
their rows, reading no card fetched after its `as_of`; `read_features` reads rows of one
feature version back for a date range, for training and prediction.

Races of one day share their history: the per-start measures of every earlier day
(`history_sql`) are kept in table `feature_history`, with what they were computed from in
`feature_history_key` (the day, the query, and a digest of every earlier start). A build for
that day's races reads them instead of recomputing them; any change to an earlier start,
result or card changes the digest, and the history is computed afresh. The `rating` group's
state after every earlier day (`ratings.rating_state`) is kept the same way, in
`feature_ratings` keyed in `feature_ratings_key` (the day, the query, the same digest, the
feature version and a digest of the ratings' code): a build of the day's races passes over
the day's starts alone, from that state. Neither holds anything of the day itself: the results
of the day's earlier races, loaded during the day, change neither, and no build reads them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence

import polars as pl

from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.feature_engineering.definitions import (
    FEATURE_COLUMNS,
    FEATURE_VERSION,
    feature_sql,
    history_digest_sql,
    history_sql,
    starts_sql,
)
from keiba.feature_engineering.ratings import (
    CODE_DIGEST,
    RATING_COLUMNS,
    RatingState,
    day_rating_features,
    rating_features,
    rating_state,
    state_frame,
    state_of,
)

__all__ = [
    "ENTRIES_TABLE",
    "FEATURES_TABLE",
    "HISTORY_KEY_TABLE",
    "HISTORY_TABLE",
    "KEY_COLUMNS",
    "RATINGS_KEY_TABLE",
    "RATINGS_TABLE",
    "build_features",
    "build_features_for_entries",
    "prepare_race_day",
    "read_features",
]

FEATURES_TABLE = "features"
ENTRIES_TABLE = "entries"
"""The race cards, written by the collector (races known before their result)."""
KEY_COLUMNS: tuple[str, ...] = ("race_id", "horse_no", "race_date", "feature_version", "as_of")
HISTORY_TABLE = "feature_history"
HISTORY_KEY_TABLE = "feature_history_key"
RATINGS_TABLE = "feature_ratings"
RATINGS_KEY_TABLE = "feature_ratings_key"


def _conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Fix the column types, whatever the engine returned (an empty result has no types)."""
    return frame.select(
        pl.col("race_id").cast(pl.String),
        pl.col("horse_no").cast(pl.Int64),
        pl.col("race_date").cast(pl.Date),
        pl.col("feature_version").cast(pl.String),
        pl.col("as_of").cast(pl.Datetime("us", "UTC")),
        *(pl.col(name).cast(pl.Float64) for name in FEATURE_COLUMNS),
    )


def build_features(warehouse: Warehouse) -> int:
    """(Re)create table `features` for every starter of every race; returns the row count.

    Each row holds the runner's point-in-time features (see `keiba.feature_engineering.
    definitions` for what "point in time" means here) for version `FEATURE_VERSION`. Races
    without a result yet are covered by their latest card, if the warehouse has cards.
    """
    warehouse.ensure_schema()
    cards = warehouse.has_table(ENTRIES_TABLE)
    frame = warehouse.query(feature_sql(cards=cards), deterministic=True)
    ratings = rating_features(warehouse.query(starts_sql(cards=cards)))
    frame = _conform(frame.join(ratings, on=["race_id", "horse_no"], how="left"))
    warehouse.write_table(FEATURES_TABLE, frame)
    return frame.height


def build_features_for_entries(
    warehouse: Warehouse, race_ids: Sequence[str], as_of: dt.datetime
) -> int:
    """Compute the features of `race_ids` alone and replace their rows in `features`.

    A race without a result is described by its latest card fetched at or before `as_of`
    (none later is read); a race with a result by its result. The rows equal those a full
    `build_features` gives. Returns the row count written (0 for a race with neither).
    """
    cards, params = _cards_as_of(warehouse, as_of)
    day = _race_day(warehouse, race_ids, cards)
    digest = None if day is None else _keep_history(warehouse, day, cards, params)
    history = None if day is None else HISTORY_TABLE
    sql = feature_sql(cards=cards, until=cards, races=True, history=history)
    frame = warehouse.query(sql, [*params, list(race_ids)], deterministic=True)
    if frame.height:
        last: dt.date = frame["race_date"].max()  # type: ignore[assignment]  # a Date column
        ratings = _ratings_of_day(warehouse, last, cards, params, digest)
        ratings = ratings.filter(pl.col("race_id").is_in(list(race_ids)))
        frame = frame.join(ratings, on=["race_id", "horse_no"], how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in RATING_COLUMNS)
    frame = _conform(frame)
    if _stored_columns(warehouse) not in (None, frame.columns):
        # written by another feature version: every race's rows are built again, in this one
        build_features(warehouse)
    warehouse.write_table(FEATURES_TABLE, frame, replace_by="race_id")
    return frame.height


def prepare_race_day(warehouse: Warehouse, day: dt.date, as_of: dt.datetime) -> None:
    """Keep what every build of `day`'s races reads from the days before it (the history and
    the ratings' state), as the warehouse stands at `as_of`, unless it is kept already: a race
    day does this once it starts, so its first decision does not pass over all history."""
    cards, params = _cards_as_of(warehouse, as_of)
    digest = _keep_history(warehouse, day, cards, params)
    _kept_ratings(warehouse, day, cards, params, digest)


def _cards_as_of(warehouse: Warehouse, as_of: dt.datetime) -> tuple[bool, list[object]]:
    """Whether the warehouse holds cards, and the parameters that read them as of `as_of`."""
    if as_of.tzinfo is None:
        raise ValueError(f"as_of must be timezone-aware, was {as_of.isoformat()}")
    warehouse.ensure_schema()
    cards = warehouse.has_table(ENTRIES_TABLE)
    return cards, [as_of.astimezone(dt.UTC)] if cards else []


def _stored_columns(warehouse: Warehouse) -> list[str] | None:
    """The columns of the stored `features` table; None when there is none."""
    if not warehouse.has_table(FEATURES_TABLE):
        return None
    return warehouse.query(f"SELECT * FROM {FEATURES_TABLE} LIMIT 0").columns


def _race_day(warehouse: Warehouse, race_ids: Sequence[str], cards: bool) -> dt.date | None:
    """The one date the races are run on (by their result or card), else None."""
    known = "SELECT race_id, race_date FROM races"
    if cards:
        known += f" UNION ALL SELECT race_id, race_date FROM {ENTRIES_TABLE}"
    found = warehouse.query(
        f"SELECT DISTINCT race_date FROM ({known}) WHERE race_id IN (SELECT unnest(?))",
        [list(race_ids)],
    )
    return found["race_date"][0] if found.height == 1 else None


def _keep_history(
    warehouse: Warehouse, day: dt.date, cards: bool, params: list[object]
) -> pl.DataFrame:
    """Make `feature_history` hold the history of the races of `day`, unless it already does;
    the digest of every start before the day it is kept under (`history_digest_sql`'s row)."""
    digest = warehouse.query(history_digest_sql(cards=cards, until=cards), [*params, day])
    sql = history_sql(cards=cards, until=cards)
    _keep(
        warehouse,
        (HISTORY_TABLE, HISTORY_KEY_TABLE),
        _key(day, sql, digest),
        lambda: warehouse.query(sql, [*params, day], deterministic=True),
    )
    return digest


def _ratings_of_day(
    warehouse: Warehouse,
    day: dt.date,
    cards: bool,
    params: list[object],
    digest: pl.DataFrame | None,
) -> pl.DataFrame:
    """The `rating` features of the starts on `day` (the last day of the build's races): from
    the state of the ratings before the day, kept for the day, when `digest` (the day's
    `history_digest_sql` row) is given; else from a passage over every start up to the day."""
    if digest is None:
        sql = starts_sql(cards=cards, until=cards, dates="<=")
        return rating_features(warehouse.query(sql, [*params, day]))
    state = _kept_ratings(warehouse, day, cards, params, digest)
    today = warehouse.query(starts_sql(cards=cards, until=cards, dates="="), [*params, day])
    return day_rating_features(state, today)


def _kept_ratings(
    warehouse: Warehouse, day: dt.date, cards: bool, params: list[object], digest: pl.DataFrame
) -> RatingState:
    """The ratings' state after every day before `day`, from `feature_ratings` if it holds
    that state (by its key), else computed and kept there."""
    sql = starts_sql(cards=cards, until=cards, dates="<")
    key = _key(day, sql, digest).with_columns(
        feature_version=pl.lit(FEATURE_VERSION), code_sha256=pl.lit(CODE_DIGEST)
    )
    computed = _keep(
        warehouse,
        (RATINGS_TABLE, RATINGS_KEY_TABLE),
        key,
        lambda: state_frame(rating_state(warehouse.query(sql, [*params, day]))),
    )
    if computed is None:
        computed = warehouse.query(f"SELECT * FROM {RATINGS_TABLE}")
    return state_of(computed)


def _key(day: dt.date, sql: str, digest: pl.DataFrame) -> pl.DataFrame:
    """What a kept table of `day` is computed from: the day, its query and the digest of every
    start before the day."""
    return pl.DataFrame(
        {
            "race_date": [day],
            "query_sha256": [hashlib.sha256(sql.encode()).hexdigest()],
            "starts": [int(digest["n"][0])],
            "digest": [str(digest["digest"][0])],
        }
    )


def _keep(
    warehouse: Warehouse,
    tables: tuple[str, str],
    key: pl.DataFrame,
    compute: Callable[[], pl.DataFrame],
) -> pl.DataFrame | None:
    """Make the first of `tables` hold `compute()`'s rows, keyed by `key` in the second,
    unless the stored key is `key`; the rows computed, or None when the stored ones are kept."""
    table, key_table = tables
    if warehouse.has_table(key_table) and warehouse.has_table(table):
        stored = warehouse.query(f"SELECT * FROM {key_table}")
        same = stored.columns == key.columns and stored.height == 1
        if same and stored.cast(key.schema).equals(key):
            return None
    # the key goes first and comes back last: a build stopped in between leaves no key
    warehouse.write_table(key_table, key.clear())
    rows = compute()
    warehouse.write_table(table, rows)
    warehouse.write_table(key_table, key)
    return rows


def read_features(
    warehouse: Warehouse,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    *,
    feature_version: str = FEATURE_VERSION,
) -> pl.DataFrame:
    """Rows of `features` of one version with race_date in [date_from, date_to] (inclusive)."""
    if not warehouse.has_table(FEATURES_TABLE):
        raise KeibaError("the warehouse has no features table: build the features first")
    where, params = _date_filter("race_date", date_from, date_to)
    columns = ", ".join((*KEY_COLUMNS, *FEATURE_COLUMNS))
    frame = warehouse.query(
        f"SELECT {columns} FROM {FEATURES_TABLE} WHERE feature_version = ?{where} "
        "ORDER BY race_id, horse_no",
        [feature_version, *params],
    )
    return _conform(frame)


def _date_filter(
    column: str, date_from: dt.date | None, date_to: dt.date | None
) -> tuple[str, list[dt.date]]:
    where = ""
    params: list[dt.date] = []
    if date_from is not None:
        where += f" AND {column} >= ?"
        params.append(date_from)
    if date_to is not None:
        where += f" AND {column} <= ?"
        params.append(date_to)
    return where, params

"""Point-in-time features, computed by the warehouse engine in SQL (table `features`).

`feature_sql()` is the query; `build_features` (re)creates the table and
`build_features_for_entries` replaces the rows of a few races (a race day's, from their cards;
`prepare_race_day` keeps beforehand what the day's builds read from the days before it);
`FEATURE_COLUMNS` are the model inputs of version `FEATURE_VERSION`, in `FEATURE_GROUPS`. See
`definitions` for the point-in-time rules.
"""

from keiba.feature_engineering.build import (
    ENTRIES_TABLE,
    FEATURES_TABLE,
    HISTORY_KEY_TABLE,
    HISTORY_TABLE,
    RATINGS_KEY_TABLE,
    RATINGS_TABLE,
    build_features,
    build_features_for_entries,
    prepare_race_day,
    read_features,
)
from keiba.feature_engineering.definitions import (
    FEATURE_COLUMNS,
    FEATURE_GROUPS,
    FEATURE_VERSION,
    FEATURES,
    STARTED_SQL,
    Feature,
    columns_without,
    feature_sql,
)

__all__ = [
    "ENTRIES_TABLE",
    "FEATURES",
    "FEATURES_TABLE",
    "FEATURE_COLUMNS",
    "FEATURE_GROUPS",
    "FEATURE_VERSION",
    "HISTORY_KEY_TABLE",
    "HISTORY_TABLE",
    "RATINGS_KEY_TABLE",
    "RATINGS_TABLE",
    "STARTED_SQL",
    "Feature",
    "build_features",
    "build_features_for_entries",
    "columns_without",
    "feature_sql",
    "prepare_race_day",
    "read_features",
]

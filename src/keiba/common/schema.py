"""The data contract: every warehouse table defined once.

Each table is a list of typed columns plus its primary key, partition and cluster columns.
Everything that needs the shape of a table reads it from here: the DuckDB and BigQuery DDL,
the canonical import format and its validation, the simulated world's writer and the tests.
A warehouse file holds one *dataset*: `races` carries the dataset's name in every row (a
column the warehouse stamps on load, not part of the import format), `dataset_info` says what
kind of data it is, and `dataset_loads` lists what was loaded into it. Logical types map to
each engine's physical types in one place (`_DUCKDB_TYPES`, `_BIGQUERY_TYPES`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = [
    "CONTRACT_TABLES",
    "DATASET_KINDS",
    "DATASET_NAME_PATTERN",
    "Column",
    "DatasetKind",
    "LogicalType",
    "Table",
    "bigquery_ddl",
    "bigquery_type",
    "dataset_name_problem",
    "duckdb_ddl",
    "table",
]

DatasetKind = Literal["real", "simulated"]
DATASET_KINDS: tuple[DatasetKind, ...] = ("real", "simulated")
DATASET_NAME_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
"""A dataset's name: its file `<name>.duckdb` here, a BigQuery dataset later."""


def dataset_name_problem(name: str) -> str | None:
    """Why `name` cannot name a dataset, or None if it can."""
    if re.fullmatch(DATASET_NAME_PATTERN, name):
        return None
    return (
        f"{name!r} is not a dataset name: use 1 to 64 lower-case letters, digits, '-' and '_', "
        "starting with a letter or a digit"
    )


class LogicalType(StrEnum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    TIMESTAMP = "timestamp"
    """An instant: timezone-aware everywhere (UTC in storage, shown in JST)."""


_DUCKDB_TYPES = {
    LogicalType.STRING: "VARCHAR",
    LogicalType.INT: "BIGINT",
    LogicalType.FLOAT: "DOUBLE",
    LogicalType.BOOL: "BOOLEAN",
    LogicalType.DATE: "DATE",
    LogicalType.TIMESTAMP: "TIMESTAMPTZ",
}

_BIGQUERY_TYPES = {
    LogicalType.STRING: "STRING",
    LogicalType.INT: "INT64",
    LogicalType.FLOAT: "FLOAT64",
    LogicalType.BOOL: "BOOL",
    LogicalType.DATE: "DATE",
    LogicalType.TIMESTAMP: "TIMESTAMP",
}


@dataclass(frozen=True)
class Column:
    """One column: its logical type, whether it may be null, and the values it may take.

    `choices` restricts a string column to a set of values; `minimum`/`maximum` bound a
    numeric column (inclusive); `pattern` is a regular expression a string must match fully.
    """

    name: str
    type: LogicalType
    nullable: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    pattern: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Table:
    """A contract table. `key` identifies a row; `race_id` ties every row to one race.

    `columns` are what a loader supplies (and the canonical files hold); `stamped` columns
    follow them in storage and are filled by the warehouse on every load.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_by: str | None = None
    cluster_by: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""
    stamped: tuple[Column, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        return (*self.columns, *self.stamped)

    def column(self, name: str) -> Column:
        for column in self.stored_columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")


RACE_ID = Column(
    "race_id",
    LogicalType.STRING,
    pattern=r"\d{16}",
    description="16-digit race key YYYYMMDDJJKKNNRR",
)
DATASET = Column(
    "dataset",
    LogicalType.STRING,
    pattern=DATASET_NAME_PATTERN,
    description="the dataset the race was loaded into (set by the warehouse)",
)
HORSE_NO = Column("horse_no", LogicalType.INT, minimum=1, maximum=18, description="馬番")

SURFACES = ("turf", "dirt", "jump")
GOINGS = ("良", "稍重", "重", "不良")
RACE_CLASSES = ("新馬", "未勝利", "1勝", "2勝", "3勝", "OP")
GRADES = ("G1", "G2", "G3", "L", "OP")
RUNNER_STATUSES = ("finished", "scratched", "excluded", "did_not_finish", "disqualified")
BET_TYPE_NAMES = (
    "win",
    "place",
    "bracket_quinella",
    "quinella",
    "quinella_place",
    "exacta",
    "trio",
    "trifecta",
)
ODDS_STAGES = ("forecast", "interim", "final")

RACES = Table(
    "races",
    (
        RACE_ID,
        Column("netkeiba_race_id", LogicalType.STRING, pattern=r"\d{12}"),
        Column("race_date", LogicalType.DATE),
        Column("venue_code", LogicalType.INT, minimum=1, maximum=10),
        Column("meeting", LogicalType.INT, minimum=1, maximum=12, description="開催回"),
        Column("meeting_day", LogicalType.INT, minimum=1, maximum=15, description="日目"),
        Column("race_no", LogicalType.INT, minimum=1, maximum=12),
        Column("post_time", LogicalType.TIMESTAMP, nullable=True),
        Column("race_name", LogicalType.STRING),
        Column("grade", LogicalType.STRING, nullable=True, choices=GRADES),
        Column("race_class", LogicalType.STRING, choices=RACE_CLASSES),
        Column("surface", LogicalType.STRING, choices=SURFACES),
        Column("distance_m", LogicalType.INT, minimum=800, maximum=4300),
        Column("direction", LogicalType.STRING, nullable=True),
        Column("going", LogicalType.STRING, nullable=True, choices=GOINGS),
        Column("weather", LogicalType.STRING, nullable=True),
        Column("field_size", LogicalType.INT, minimum=1, maximum=18),
        Column("source", LogicalType.STRING),
        Column("ingested_at", LogicalType.TIMESTAMP, nullable=True),
    ),
    key=("race_id",),
    partition_by="race_date",
    description="one row per race",
    stamped=(DATASET,),
)

RUNNERS = Table(
    "runners",
    (
        RACE_ID,
        HORSE_NO,
        Column("frame_no", LogicalType.INT, minimum=1, maximum=8, description="枠番"),
        Column("horse_id", LogicalType.STRING, nullable=True),
        Column("horse_name", LogicalType.STRING),
        Column("sex", LogicalType.STRING, nullable=True, choices=("牡", "牝", "セ")),
        Column("age", LogicalType.INT, nullable=True, minimum=2, maximum=15),
        Column("jockey_id", LogicalType.STRING, nullable=True),
        Column("jockey_name", LogicalType.STRING, nullable=True),
        Column("trainer_id", LogicalType.STRING, nullable=True),
        Column("trainer_name", LogicalType.STRING, nullable=True),
        Column("weight_carried_kg", LogicalType.FLOAT, nullable=True, minimum=40, maximum=75),
        Column("body_weight_kg", LogicalType.INT, nullable=True, minimum=300, maximum=700),
        Column("body_weight_diff_kg", LogicalType.INT, nullable=True, minimum=-60, maximum=60),
        Column("status", LogicalType.STRING, choices=RUNNER_STATUSES),
        Column("finish_pos", LogicalType.INT, nullable=True, minimum=1, maximum=18),
        Column("demoted", LogicalType.BOOL),
        Column(
            "finish_time_s", LogicalType.FLOAT, nullable=True, minimum=0, exclusive_minimum=True
        ),
        Column("margin", LogicalType.STRING, nullable=True),
        Column("passing", LogicalType.STRING, nullable=True),
        Column("last_3f_s", LogicalType.FLOAT, nullable=True, minimum=0, exclusive_minimum=True),
        Column(
            "win_odds_final", LogicalType.FLOAT, nullable=True, minimum=1.0, exclusive_minimum=True
        ),
        Column("popularity", LogicalType.INT, nullable=True, minimum=1, maximum=18),
    ),
    key=("race_id", "horse_no"),
    cluster_by=("race_id",),
    description="one row per declared runner",
)

PAYOUTS = Table(
    "payouts",
    (
        RACE_ID,
        Column("bet_type", LogicalType.STRING, choices=BET_TYPE_NAMES),
        Column("combination", LogicalType.STRING, pattern=r"\d{1,2}([->]\d{1,2}){0,2}"),
        Column("payout_yen", LogicalType.INT, minimum=100, description="per 100 yen staked"),
        Column("popularity", LogicalType.INT, nullable=True, minimum=1),
    ),
    key=("race_id", "bet_type", "combination"),
    cluster_by=("race_id", "bet_type"),
    description="one row per winning combination",
)

ODDS = Table(
    "odds",
    (
        RACE_ID,
        Column("bet_type", LogicalType.STRING, choices=BET_TYPE_NAMES),
        Column("combination", LogicalType.STRING, pattern=r"\d{1,2}([->]\d{1,2}){0,2}"),
        Column("odds", LogicalType.FLOAT, minimum=1.0, description="decimal, stake included"),
        Column("odds_high", LogicalType.FLOAT, nullable=True, minimum=1.0),
        Column("pool_yen", LogicalType.INT, nullable=True, minimum=0),
        Column("as_of", LogicalType.TIMESTAMP),
        Column("stage", LogicalType.STRING, choices=ODDS_STAGES),
    ),
    key=("race_id", "bet_type", "combination", "as_of"),
    cluster_by=("race_id", "bet_type"),
    description="odds snapshots; place and wide carry the published low (odds) and high",
)

QUARANTINE = Table(
    "quarantine",
    (
        Column("source", LogicalType.STRING),
        Column("locator", LogicalType.STRING),
        Column("reason", LogicalType.STRING),
        Column("raw", LogicalType.STRING, nullable=True),
        Column("seen_at", LogicalType.TIMESTAMP),
    ),
    key=("source", "locator", "reason"),
    description="records that failed validation, kept with the reason",
)

TRUE_PROBABILITIES = Table(
    "true_probabilities",
    (
        RACE_ID,
        HORSE_NO,
        Column("p_true", LogicalType.FLOAT, minimum=0.0, maximum=1.0),
        Column(
            "p_knowable",
            LogicalType.FLOAT,
            nullable=True,
            minimum=0.0,
            maximum=1.0,
            description="the true win probability with the day's form integrated out: the "
            "best a model of past races can know (null in worlds written before it existed)",
        ),
    ),
    key=("race_id", "horse_no"),
    description="simulated worlds only: each runner's true win probability, and the part of "
    "it knowable from the past",
)

DATASET_INFO = Table(
    "dataset_info",
    (
        Column("name", LogicalType.STRING, pattern=DATASET_NAME_PATTERN),
        Column("kind", LogicalType.STRING, choices=DATASET_KINDS),
        Column("created_at", LogicalType.TIMESTAMP, nullable=True),
    ),
    key=("name",),
    description="one row: the dataset's name, whether its races are real or simulated, when "
    "it was created (null: before datasets were recorded)",
)

DATASET_LOADS = Table(
    "dataset_loads",
    (
        Column("loaded_at", LogicalType.TIMESTAMP),
        Column("source", LogicalType.STRING, description="what was loaded, e.g. a directory"),
        Column("kind", LogicalType.STRING, choices=DATASET_KINDS),
        *(
            Column(name, LogicalType.INT, minimum=0, description=f"{name} rows written")
            for name in ("races", "runners", "payouts", "odds", "true_probabilities")
        ),
    ),
    key=("loaded_at", "source"),
    description="one row per load that wrote anything: when, what, and the rows it wrote",
)

CONTRACT_TABLES: tuple[Table, ...] = (RACES, RUNNERS, PAYOUTS, ODDS)
"""Tables of the canonical import format, in load order."""

DATASET_TABLES: tuple[Table, ...] = (DATASET_INFO, DATASET_LOADS)
"""What a warehouse records about the dataset it holds."""

WAREHOUSE_TABLES: tuple[Table, ...] = (
    *CONTRACT_TABLES,
    QUARANTINE,
    TRUE_PROBABILITIES,
    *DATASET_TABLES,
)

_BY_NAME = {t.name: t for t in WAREHOUSE_TABLES}


def table(name: str) -> Table:
    """The contract table called `name`."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no contract table {name!r}; known: {', '.join(_BY_NAME)}") from None


def duckdb_ddl(t: Table) -> str:
    """CREATE TABLE for DuckDB (which has no table partitioning; rows are kept date-ordered)."""
    cols = ",\n  ".join(
        f"{c.name} {_DUCKDB_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}"
        for c in t.stored_columns
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {t.name} (\n  {cols},\n  PRIMARY KEY ({', '.join(t.key)})\n)"
    )


def bigquery_type(logical: LogicalType) -> str:
    """The BigQuery type that stores `logical`."""
    return _BIGQUERY_TYPES[logical]


def bigquery_ddl(t: Table, dataset: str) -> str:
    """CREATE TABLE for BigQuery, partitioned by race date and clustered as declared."""
    cols = ",\n  ".join(
        f"{c.name} {_BIGQUERY_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}"
        for c in t.stored_columns
    )
    ddl = f"CREATE TABLE IF NOT EXISTS `{dataset}.{t.name}` (\n  {cols}\n)"
    if t.partition_by:
        ddl += f"\nPARTITION BY {t.partition_by}"
    if t.cluster_by:
        ddl += f"\nCLUSTER BY {', '.join(t.cluster_by)}"
    return ddl

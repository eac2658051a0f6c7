"""The warehouse port and its embedded adapter (DuckDB).

Callers see `Warehouse`: create the contract tables, load races idempotently and atomically,
write derived tables (features, predictions), and run read queries written in DuckDB's SQL
dialect (the BigQuery adapter transpiles them with sqlglot). Nothing outside this module
touches a DuckDB connection.

Loading is by *scope*: a race for most tables, a race and snapshot time for `odds`. A scope
whose incoming rows equal the stored rows (ignoring `ingested_at`) is left alone, so loading the
same data twice changes nothing; a scope that differs is replaced whole; everything happens in
one transaction, so a failed load leaves the warehouse as it was.

A warehouse holds one dataset (its file is `<dataset>.duckdb`): every race row is stamped with
the dataset's name, `dataset_info` records whether its races are real or simulated (set by the
first load), and a load of the other kind is refused before anything is written. A load that
names its source (`LoadSource`) and writes rows is listed in `dataset_loads`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

from keiba.common.clock import JST
from keiba.common.errors import KeibaError, StorageError
from keiba.common.schema import (
    DATASET_KINDS,
    DATASET_LOADS,
    WAREHOUSE_TABLES,
    DatasetKind,
    Table,
    dataset_name_problem,
    duckdb_ddl,
    table,
)

__all__ = [
    "LOAD_SCOPES",
    "MEMORY_DATASET",
    "UNHASHED_COLUMNS",
    "DatasetKindError",
    "DuckDBWarehouse",
    "LoadResult",
    "LoadSource",
    "Warehouse",
    "check_columns",
    "check_load_frame",
    "check_load_kind",
    "duckdb_problem",
    "incoming_kind",
    "lock_holder",
    "refuse_other_kind",
]

MEMORY_DATASET = "memory"
"""The dataset name of an in-memory warehouse."""

LOAD_SCOPES: dict[str, tuple[str, ...]] = {
    "races": ("race_id",),
    "runners": ("race_id",),
    "payouts": ("race_id",),
    "odds": ("race_id", "as_of"),
    "true_probabilities": ("race_id",),
}
UNHASHED_COLUMNS = {"ingested_at"}


@dataclass
class LoadResult:
    """What a load did, per table: scopes (races, or race snapshots) new, changed, unchanged."""

    new: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)

    @property
    def wrote_anything(self) -> bool:
        return any(self.rows_written.values())


@dataclass(frozen=True)
class LoadSource:
    """What a load brings: the kind of its races, what it is (e.g. the directory read), when."""

    kind: DatasetKind
    name: str
    at: dt.datetime

    def __post_init__(self) -> None:
        if self.kind not in DATASET_KINDS:
            raise ValueError(f"kind must be one of {', '.join(DATASET_KINDS)}, was {self.kind!r}")
        if self.at.tzinfo is None:
            raise ValueError(f"a load's time must be timezone-aware, was {self.at.isoformat()}")


class DatasetKindError(KeibaError):
    """Races of one kind (real or simulated) were about to go into a dataset of the other."""


def refuse_other_kind(dataset: str, stored: DatasetKind | None, incoming: DatasetKind) -> None:
    """Raise `DatasetKindError` if a dataset holding `stored` races would receive `incoming`."""
    if stored is not None and stored != incoming:
        raise DatasetKindError(
            f"the dataset {dataset!r} holds {stored} races and these are {incoming}: "
            "load them into a dataset of their own (--dataset NAME)"
        )


class Warehouse(Protocol):
    dataset: str

    def __enter__(self) -> Warehouse: ...

    def __exit__(self, *exc: object) -> None: ...

    def ensure_schema(self) -> None: ...

    def kind(self) -> DatasetKind | None: ...

    def load(
        self, frames: Mapping[str, pl.DataFrame], source: LoadSource | None = None
    ) -> LoadResult: ...

    def query(
        self, sql: str, params: Sequence[Any] | None = None, *, deterministic: bool = False
    ) -> pl.DataFrame: ...

    def write_table(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        replace: bool = True,
        replace_by: str | tuple[str, ...] | None = None,
    ) -> None: ...

    def has_table(self, name: str) -> bool: ...

    def add_quarantine(self, frame: pl.DataFrame) -> int: ...

    def close(self) -> None: ...


def key_columns(key: str | tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a `write_table` key: one name, or several."""
    return (key,) if isinstance(key, str) else key


def lock_holder(message: str) -> str:
    """The process a DuckDB lock message names, with its command line where it can be read."""
    found = re.search(r"\(PID (\d+)\)", message)
    if not found:
        return "another process"
    pid = found.group(1)
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"process {pid}"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if not words:
        return f"process {pid}"
    return f"process {pid} ({' '.join([Path(words[0]).name, *words[1:]])})"


def duckdb_problem(e: duckdb.Error) -> str:
    """What a DuckDB error says, in one line; a lock names the process holding it."""
    text = str(e)
    if "lock" in text.lower() and "PID" in text:
        return f"it is in use by {lock_holder(text)}; wait for it to finish or stop it"
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def check_load_kind(warehouse: Warehouse, kind: DatasetKind) -> None:
    """Refuse (`DatasetKindError`) to load `kind` races into `warehouse` if it holds the other."""
    refuse_other_kind(warehouse.dataset, warehouse.kind(), kind)


def _dataset_of(path: Path | None) -> str:
    if path is None:
        return MEMORY_DATASET
    problem = dataset_name_problem(path.stem)
    if problem:
        raise StorageError(f"cannot name the dataset of {path}: {problem}")
    return path.stem


def _rows(frames: Mapping[str, pl.DataFrame], name: str) -> int:
    frame = frames.get(name)
    return 0 if frame is None else frame.height


def incoming_kind(
    dataset: str,
    stored: DatasetKind | None,
    frames: Mapping[str, pl.DataFrame],
    source: LoadSource | None,
) -> DatasetKind:
    """The kind of the races a load brings: `source.kind`, else simulated if true probabilities
    come with them, else the dataset's own (real for a new one). Refuses real races with true
    probabilities, and races of the other kind than the dataset's (`DatasetKindError`)."""
    truth = _rows(frames, "true_probabilities")
    inferred: DatasetKind = "simulated" if truth else (stored or "real")
    kind = source.kind if source is not None else inferred
    if kind == "real" and truth:
        raise StorageError(
            f"true probabilities exist only in simulated data; {truth} rows of them came "
            f"with real races for the dataset {dataset!r}"
        )
    refuse_other_kind(dataset, stored, kind)
    return kind


def check_load_frame(t: Table, frame: pl.DataFrame) -> tuple[str, ...]:
    """The scope `t` is loaded by, once `frame` has exactly `t`'s columns; else StorageError."""
    scope = LOAD_SCOPES.get(t.name)
    if scope is None:
        raise StorageError(f"table {t.name!r} cannot be loaded by scope")
    check_columns(t, frame)
    return scope


def check_columns(t: Table, frame: pl.DataFrame) -> None:
    """StorageError unless `frame` has exactly the columns of table `t`, in order."""
    if list(frame.columns) != list(t.column_names):
        raise StorageError(
            f"frame for {t.name!r} has columns {frame.columns}, expected {t.column_names}"
        )


class DuckDBWarehouse:
    """The warehouse in one DuckDB file (or in memory with `path=None`).

    It holds the dataset `dataset`, by default the file's name without `.duckdb`.
    """

    def __init__(
        self, path: Path | None, *, read_only: bool = False, dataset: str | None = None
    ) -> None:
        self.path = path
        self.dataset = dataset if dataset is not None else _dataset_of(path)
        if problem := dataset_name_problem(self.dataset):
            raise StorageError(problem)
        if path is not None and not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(
                str(path) if path is not None else ":memory:", read_only=read_only
            )
        except duckdb.Error as e:
            raise StorageError(f"cannot open the warehouse {path}: {duckdb_problem(e)}") from e
        self._con.execute("SET TimeZone = 'UTC'")
        # DuckDB draws a progress bar on stdout for a long query: stdout is the commands' (JSON)
        self._con.execute("SET enable_progress_bar = false")
        # nothing but this object touches the connection: once seen, these stay true
        self._schema_ready = False
        self._kind: DatasetKind | None = None

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        for t in WAREHOUSE_TABLES:
            self._con.execute(duckdb_ddl(t))
        self._migrate()
        # a warehouse from before the knowable probabilities: the column, null for old rows
        self._con.execute(
            "ALTER TABLE true_probabilities ADD COLUMN IF NOT EXISTS p_knowable DOUBLE"
        )
        self._schema_ready = True

    def _migrate(self) -> None:
        """Give a warehouse from before datasets its `races.dataset` column and its kind."""
        found = self._con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'races' AND column_name = 'dataset'"
        ).fetchone()
        if found and found[0]:
            return
        kinds = self._con.execute(
            "SELECT DISTINCT CASE WHEN race_id IN (SELECT race_id FROM true_probabilities) "
            "THEN 'simulated' ELSE 'real' END FROM races"
        ).fetchall()
        if len(kinds) > 1:
            raise StorageError(
                f"the warehouse {self.path} mixes real and simulated races from before datasets "
                "existed: import each into a dataset of its own (--dataset NAME) and delete it"
            )
        self._con.execute("BEGIN TRANSACTION")
        try:
            # the name is a validated dataset name (no quotes): safe to inline in DDL
            self._con.execute(
                f"ALTER TABLE races ADD COLUMN dataset VARCHAR DEFAULT '{self.dataset}'"
            )
            self._con.execute("ALTER TABLE races ALTER COLUMN dataset SET NOT NULL")
            self._con.execute("ALTER TABLE races ALTER COLUMN dataset DROP DEFAULT")
            if kinds:
                self._con.execute(
                    "INSERT INTO dataset_info VALUES (?, ?, NULL)", [self.dataset, kinds[0][0]]
                )
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise

    def kind(self) -> DatasetKind | None:
        """Whether the dataset's races are real or simulated; None before its first load."""
        if self._kind is not None:
            return self._kind
        if not self.has_table("dataset_info"):
            return None
        found = self._con.execute("SELECT kind FROM dataset_info LIMIT 1").fetchone()
        if found is None:
            return None
        kind = str(found[0])
        if kind == "real":
            self._kind = "real"
        elif kind == "simulated":
            self._kind = "simulated"
        else:
            raise StorageError(f"dataset_info of {self.dataset!r} names an unknown kind {kind!r}")
        return self._kind

    def forget_from(self, day: dt.date, *, drop: Sequence[str] = ()) -> int:
        """Delete every row of the races run on `day` or later from every table, the loads
        listed from that day (JST) on, and drop the tables `drop` (derived caches), in one
        transaction: the dataset as it stood before that day. Race ids begin with their date,
        so a race's rows are found by id in any table that holds them. Returns the rows
        deleted."""
        tables = self._con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND column_name = 'race_id' ORDER BY table_name"
        ).fetchall()
        first_id = f"{day:%Y%m%d}"
        deleted = 0
        self._con.execute("BEGIN TRANSACTION")
        try:
            for name in drop:
                self._con.execute(f'DROP TABLE IF EXISTS "{name}"')
            for (name,) in tables:
                if name in drop:
                    continue
                found = self._con.execute(
                    f'DELETE FROM "{name}" WHERE race_id >= ?', [first_id]
                ).fetchone()
                deleted += int(found[0]) if found else 0
            if self.has_table(DATASET_LOADS.name):
                self._con.execute(
                    f"DELETE FROM {DATASET_LOADS.name} WHERE loaded_at >= ?",
                    [dt.datetime.combine(day, dt.time(), JST)],
                )
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        return deleted

    def has_table(self, name: str) -> bool:
        found = self._con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        return bool(found and found[0])

    def query(
        self, sql: str, params: Sequence[Any] | None = None, *, deterministic: bool = False
    ) -> pl.DataFrame:
        """Run a read query. `deterministic` runs it on one thread: parallel aggregation sums
        floats in a varying order, so results can differ in the last bits between runs."""
        if not deterministic:
            return self._con.execute(sql, list(params) if params else None).pl()
        threads = self._con.execute("SELECT current_setting('threads')").fetchone()
        self._con.execute("SET threads = 1")
        try:
            return self._con.execute(sql, list(params) if params else None).pl()
        finally:
            self._con.execute(f"SET threads = {int(threads[0]) if threads else 1}")

    def write_table(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        replace: bool = True,
        replace_by: str | tuple[str, ...] | None = None,
    ) -> None:
        """Write a derived table (contract tables go through `load`): replace it, append to
        it (`replace=False`), or replace only the stored rows whose column `replace_by` (or
        columns, together) holds a value the frame holds (in one transaction)."""
        if name in LOAD_SCOPES:
            raise StorageError(f"{name!r} is a contract table: load it with Warehouse.load")
        arrow = frame.to_arrow()
        self._con.register("_incoming", arrow)
        try:
            if not self.has_table(name) or (replace and replace_by is None):
                self._con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _incoming')
            elif replace_by is None:
                self._con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _incoming')
            else:
                self._replace_rows(name, replace_by)
        finally:
            self._con.unregister("_incoming")

    def _replace_rows(self, name: str, key: str | tuple[str, ...]) -> None:
        match = " AND ".join(f's."{c}" = t."{c}"' for c in key_columns(key))
        self._con.execute("BEGIN TRANSACTION")
        try:
            self._con.execute(
                f'DELETE FROM "{name}" t WHERE EXISTS (SELECT 1 FROM _incoming s WHERE {match})'
            )
            self._con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _incoming')
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def add_quarantine(self, frame: pl.DataFrame) -> int:
        """Append rows to `quarantine`, skipping keys already stored; returns the rows added.

        The key is (source, locator, reason), so quarantining the same bad record twice keeps
        one row (the first `seen_at`). Duplicates within `frame` are collapsed the same way.
        """
        t = table("quarantine")
        check_columns(t, frame)
        if frame.is_empty():
            return 0
        self.ensure_schema()
        incoming = frame.unique(subset=list(t.key), keep="first", maintain_order=True)
        match = " AND ".join(f"q.{k} = i.{k}" for k in t.key)
        self._con.register("_incoming", incoming.to_arrow())
        try:
            written = self._con.execute(
                f"INSERT INTO quarantine SELECT i.* FROM _incoming i "
                f"WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE {match})"
            ).fetchone()
        except duckdb.Error as e:
            raise StorageError(f"writing to 'quarantine' failed: {e}") from e
        finally:
            self._con.unregister("_incoming")
        return int(written[0]) if written else 0

    def load(
        self, frames: Mapping[str, pl.DataFrame], source: LoadSource | None = None
    ) -> LoadResult:
        """Load contract tables atomically; unchanged scopes are skipped (idempotent).

        The races' kind is `source.kind`, else simulated if true probabilities come with
        them, else the dataset's own (real for a new one). A kind other than the dataset's is
        refused (`DatasetKindError`) before anything is written; a load with a `source` that
        writes rows is listed in `dataset_loads`.
        """
        self.ensure_schema()
        result = LoadResult()
        self._con.execute("BEGIN TRANSACTION")
        try:
            self._claim(frames, source)
            for name, frame in frames.items():
                self._load_table(table(name), frame, result)
            if source is not None and result.wrote_anything:
                self._record(source, result)
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        return result

    def _claim(self, frames: Mapping[str, pl.DataFrame], source: LoadSource | None) -> None:
        """Check the incoming kind against the dataset's; record it on the first load."""
        stored = self.kind()
        kind = incoming_kind(self.dataset, stored, frames, source)
        if stored is None and any(frame.height for frame in frames.values()):
            self._con.execute(
                "INSERT INTO dataset_info VALUES (?, ?, ?)",
                [self.dataset, kind, source.at if source is not None else None],
            )

    def _record(self, source: LoadSource, result: LoadResult) -> None:
        counts = [result.rows_written.get(c.name, 0) for c in DATASET_LOADS.columns[3:]]
        self._con.execute(
            f"INSERT INTO dataset_loads VALUES (?, ?, ?{', ?' * len(counts)})",
            [source.at, source.name, source.kind, *counts],
        )

    def _load_table(self, t: Table, frame: pl.DataFrame, result: LoadResult) -> None:
        scope = check_load_frame(t, frame)
        stamps = {"dataset": self.dataset}
        frame = frame.with_columns(
            pl.lit(stamps[c.name], dtype=pl.String).alias(c.name) for c in t.stamped
        )
        self._con.register("_incoming", frame.to_arrow())
        try:
            count = self._scope_states(t, scope)
            written = self._write_scopes(t, scope, count)
        except duckdb.Error as e:
            raise StorageError(f"loading {t.name!r} failed: {e}") from e
        finally:
            self._con.unregister("_incoming")
        result.new[t.name] = count.get("new", 0)
        result.changed[t.name] = count.get("changed", 0)
        result.unchanged[t.name] = count.get("same", 0)
        result.rows_written[t.name] = written

    def _scope_states(self, t: Table, scope: tuple[str, ...]) -> dict[str, int]:
        """Mark each incoming scope new, changed or the same as stored (temp table
        `_scope_states`); returns how many are in each state."""
        hashed = ", ".join(c.name for c in t.stored_columns if c.name not in UNHASHED_COLUMNS)
        keys = ", ".join(scope)
        digest = f"sum(hash(struct_pack({hashed}))::HUGEINT) AS digest, count(*) AS n"
        # a semi join, not a tuple IN: DuckDB pushes the join's key range into the table scan
        on = " AND ".join(f"{t.name}.{k} = i.{k}" for k in scope)
        join = " AND ".join(f"i.{k} = s.{k}" for k in scope)
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE _scope_states AS "
            f"WITH i AS (SELECT {keys}, {digest} FROM _incoming GROUP BY {keys}), "
            f"s AS (SELECT {keys}, {digest} FROM {t.name} SEMI JOIN i ON {on} GROUP BY {keys}) "
            f"SELECT {', '.join(f'i.{k}' for k in scope)}, CASE WHEN s.n IS NULL THEN 'new' "
            f"WHEN s.digest <> i.digest OR s.n <> i.n THEN 'changed' ELSE 'same' END AS state "
            f"FROM i LEFT JOIN s ON {join}"
        )
        found = self._con.execute("SELECT state, count(*) FROM _scope_states GROUP BY state")
        return {str(state): int(n) for state, n in found.fetchall()}

    def _write_scopes(self, t: Table, scope: tuple[str, ...], count: dict[str, int]) -> int:
        """Delete the stored rows of the changed scopes and insert the incoming rows of the new
        and changed ones; returns the rows inserted."""
        if not count.get("new") and not count.get("changed"):
            return 0
        keys = ", ".join(scope)
        if count.get("changed"):
            on = " AND ".join(f"{t.name}.{k} = c.{k}" for k in scope)
            self._con.execute(
                f"DELETE FROM {t.name} USING _scope_states c WHERE {on} AND c.state = 'changed'"
            )
        # a tuple IN here: a join would push its key range into the scan of the Arrow frame,
        # which converts time-zoned bounds through pytz
        only = (
            f" WHERE ({keys}) IN (SELECT ({keys}) FROM _scope_states WHERE state <> 'same')"
            if count.get("same")
            else ""
        )
        found = self._con.execute(
            f"INSERT INTO {t.name} SELECT * FROM _incoming{only} ORDER BY {keys}"
        ).fetchone()
        return int(found[0]) if found else 0

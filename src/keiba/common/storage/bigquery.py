"""The warehouse port on BigQuery: the seed's tables, partitioned and clustered, loaded atomically.

`BigQueryWarehouse` keeps the `Warehouse` contract that `DuckDBWarehouse` keeps, so the same
contract tests run on both:

- a keiba dataset maps onto one BigQuery dataset, `<prefix><name>` with `-` spelled `_`;
- the contract tables are created from `keiba.common.schema` with their partitioning (by
  `race_date`) and clustering;
- `load` is idempotent per scope (a race; a race and snapshot time for odds): the stored rows of
  the incoming scopes are read back and compared, and only new and changed scopes are written.
  The rows to write go to staging tables by batch load (no streaming inserts, no DML per row), and
  one multi-statement transaction deletes the changed scopes and inserts the staged rows, so a
  failed load leaves the dataset as it was;
- `query` takes the one dialect every caller writes, DuckDB's, and transpiles it to GoogleSQL
  with sqlglot, once per distinct statement; `?` parameters become positional query parameters.

BigQuery sums floats in an order of its own choosing, so `deterministic=True` cannot pin the last
bits of a float aggregate here as it does on DuckDB.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

import polars as pl
import sqlglot
from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from sqlglot import exp

from keiba.common.errors import StorageError
from keiba.common.schema import (
    DATASET_LOADS,
    WAREHOUSE_TABLES,
    DatasetKind,
    Table,
    bigquery_type,
    dataset_name_problem,
    table,
)
from keiba.common.storage.warehouse import (
    LOAD_SCOPES,
    UNHASHED_COLUMNS,
    LoadResult,
    LoadSource,
    check_columns,
    check_load_frame,
    incoming_kind,
    key_columns,
)

__all__ = [
    "DATASET_LABEL",
    "BigQueryWarehouse",
    "bigquery_client",
    "bigquery_dataset_id",
    "bigquery_datasets",
    "keiba_datasets",
    "transpile",
]

DATASET_LABEL = "keiba-dataset"
"""The label that names the keiba dataset a BigQuery dataset holds."""

_STAGING_LIFETIME = dt.timedelta(hours=6)
_RETRY = bigquery.DEFAULT_RETRY.with_timeout(60.0)
"""Transient errors are retried for a minute, not the client's default ten."""


def bigquery_client(project: str, *, endpoint: str | None = None) -> bigquery.Client:
    """A client for `project`; with `endpoint` (an emulator on loopback) it sends no credentials."""
    if endpoint is None:
        return bigquery.Client(project=project)
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def bigquery_datasets(project: str, prefix: str, endpoint: str | None = None) -> list[str]:
    """The keiba datasets in `project` (BigQuery datasets labelled with their keiba name)."""
    client = bigquery_client(project, endpoint=endpoint)
    try:
        return keiba_datasets(client, prefix)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def keiba_datasets(client: bigquery.Client, prefix: str) -> list[str]:
    """The keiba datasets `client` sees in its project, listed with that client."""
    try:
        listed = list(client.list_datasets(retry=_RETRY))
    except google_errors.GoogleAPIError as e:
        raise StorageError(f"cannot list the datasets of {client.project}: {_message(e)}") from e
    names = {
        (item.labels or {}).get(DATASET_LABEL, "")
        for item in listed
        if item.dataset_id.startswith(prefix)
    }
    return sorted(name for name in names if name and dataset_name_problem(name) is None)


def bigquery_dataset_id(name: str, prefix: str = "keiba_") -> str:
    """The BigQuery dataset that holds keiba dataset `name` (letters, digits and `_` only)."""
    if problem := dataset_name_problem(name):
        raise StorageError(problem)
    return f"{prefix}{name}".replace("-", "_")


@functools.lru_cache(maxsize=1024)
def transpile(sql: str) -> tuple[str, int]:
    """`sql` in DuckDB's dialect as GoogleSQL, and how many parameters it takes.

    Positional `?` parameters become named ones (`@p0`, `@p1`, … in the order they are
    written), because the translation may repeat a parameter; `SELECT unnest(?)` (a list
    parameter as rows) becomes `SELECT v FROM UNNEST(@pN) AS v`."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        holders = list(tree.find_all(exp.Placeholder, bfs=False))
        for number, holder in enumerate(holders):
            holder.replace(exp.Parameter(this=exp.var(f"p{number}")))
        return tree.transform(_rows_of_list).sql(dialect="bigquery"), len(holders)
    except sqlglot.errors.SqlglotError as e:
        raise StorageError(f"cannot translate a query to BigQuery: {e}") from e


def _rows_of_list(node: exp.Expression) -> exp.Expression:
    if (
        isinstance(node, exp.Select)
        and not node.args.get("from")
        and len(node.expressions) == 1
        and isinstance(node.expressions[0], exp.Explode)
    ):
        alias = exp.TableAlias(columns=[exp.to_identifier("v")])
        return exp.select("v").from_(
            exp.Unnest(expressions=[node.expressions[0].this], alias=alias)
        )
    return node


_PARAMETER_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"),
    (int, "INT64"),
    (float, "FLOAT64"),
    (str, "STRING"),
    (dt.datetime, "TIMESTAMP"),
    (dt.date, "DATE"),
)
_Scalar = str | int | float | bool | dt.datetime | dt.date


def _type_of(value: Any) -> str:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise StorageError(f"a query parameter time must be timezone-aware: {value}")
    for kind, name in _PARAMETER_TYPES:
        if isinstance(value, kind):
            return name
    raise StorageError(f"a query parameter of type {type(value).__name__} is not supported")


def _parameter(
    name: str, value: Any
) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    if isinstance(value, list | tuple):
        kinds = {_type_of(v) for v in value}
        if len(kinds) > 1:
            raise StorageError(f"a list query parameter mixes types: {', '.join(sorted(kinds))}")
        return bigquery.ArrayQueryParameter(name, kinds.pop() if kinds else "STRING", list(value))
    return bigquery.ScalarQueryParameter(name, _type_of(value), cast(_Scalar, value))


def _schema(t: Table) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(
            c.name, bigquery_type(c.type), mode="NULLABLE" if c.nullable else "REQUIRED"
        )
        for c in t.stored_columns
    ]


_POLARS_TYPES: tuple[tuple[type[pl.DataType], str], ...] = (
    (pl.Boolean, "BOOL"),
    (pl.Date, "DATE"),
    (pl.Datetime, "TIMESTAMP"),
    (pl.Float32, "FLOAT64"),
    (pl.Float64, "FLOAT64"),
    (pl.String, "STRING"),
)


def _frame_schema(frame: pl.DataFrame) -> list[bigquery.SchemaField]:
    fields = []
    for name, dtype in frame.schema.items():
        if dtype.is_integer():
            kind = "INT64"
        else:
            found = [k for t, k in _POLARS_TYPES if isinstance(dtype, t) or dtype == t]
            if not found:
                raise StorageError(f"column {name!r} of type {dtype} cannot be stored in BigQuery")
            kind = found[0]
        fields.append(bigquery.SchemaField(name, kind))
    return fields


_DERIVED_CLUSTERS = {"features": "feature_version", "predictions": "model_version"}


def _derived_table(
    table_id: str, frame: pl.DataFrame, schema: list[bigquery.SchemaField]
) -> bigquery.Table:
    """A derived table laid out like the contract's: partitioned by race day when it has one,
    clustered by its version column (features, predictions) and race."""
    spec = bigquery.Table(table_id, schema=schema)
    if frame.schema.get("race_date") == pl.Date:
        spec.time_partitioning = bigquery.TimePartitioning(field="race_date")
    name = table_id.rsplit(".", 1)[-1]
    cluster = [c for c in (_DERIVED_CLUSTERS.get(name), "race_id") if c and c in frame.columns]
    if cluster:
        spec.clustering_fields = cluster
    return spec


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Times in UTC to the microsecond, as BigQuery stores them."""
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )


def _digests(frame: pl.DataFrame, scope: tuple[str, ...]) -> pl.DataFrame:
    hashed = [c for c in frame.columns if c not in UNHASHED_COLUMNS]
    return (
        frame.with_columns(pl.struct(hashed).hash().alias("_row"))
        .group_by(scope)
        .agg(pl.col("_row").sort().alias("_rows"))
    )


class BigQueryWarehouse:
    """The warehouse of keiba dataset `dataset` in BigQuery (`<prefix><dataset>`)."""

    def __init__(
        self,
        client: bigquery.Client,
        *,
        dataset: str,
        prefix: str = "keiba_",
        location: str | None = None,
    ) -> None:
        self.dataset = dataset
        self._client = client
        self._location = location
        self._id = f"{client.project}.{bigquery_dataset_id(dataset, prefix)}"
        self._schema_ready = False
        self._kind: DatasetKind | None = None

    def __enter__(self) -> BigQueryWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def _table_id(self, name: str) -> str:
        return f"{self._id}.{name}"

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        holder = bigquery.Dataset(self._id)
        holder.labels = {DATASET_LABEL: self.dataset}
        if self._location:
            holder.location = self._location
        self._call(lambda: self._client.create_dataset(holder, exists_ok=True, retry=_RETRY))
        for t in WAREHOUSE_TABLES:
            spec = bigquery.Table(self._table_id(t.name), schema=_schema(t))
            if t.partition_by:
                spec.time_partitioning = bigquery.TimePartitioning(field=t.partition_by)
            if t.cluster_by:
                spec.clustering_fields = list(t.cluster_by)
            made = self._call(
                functools.partial(self._client.create_table, spec, exists_ok=True, retry=_RETRY)
            )
            self._add_later_columns(made, spec.schema)
        self._schema_ready = True

    def _add_later_columns(self, found: Any, wanted: list[bigquery.SchemaField]) -> None:
        """Give a table made before a nullable column joined the contract that column."""
        have = {f.name for f in found.schema}
        missing = [f for f in wanted if f.name not in have]
        if not missing:
            return
        found.schema = [*found.schema, *missing]
        self._call(functools.partial(self._client.update_table, found, ["schema"], retry=_RETRY))

    def _call(self, action: Any) -> Any:
        try:
            return action()
        except google_errors.GoogleAPIError as e:
            raise StorageError(f"BigQuery dataset {self._id}: {_message(e)}") from e

    def has_table(self, name: str) -> bool:
        try:
            self._client.get_table(self._table_id(name), retry=_RETRY)
        except google_errors.NotFound:
            return False
        except google_errors.GoogleAPIError as e:
            raise StorageError(f"BigQuery dataset {self._id}: {_message(e)}") from e
        return True

    def kind(self) -> DatasetKind | None:
        """Whether the dataset's races are real or simulated; None before its first load."""
        if self._kind is not None:
            return self._kind
        if not self.has_table("dataset_info"):
            return None
        found = self._run("SELECT kind FROM dataset_info LIMIT 1")
        if found.is_empty():
            return None
        kind = str(found["kind"][0])
        if kind not in ("real", "simulated"):
            raise StorageError(f"dataset_info of {self.dataset!r} names an unknown kind {kind!r}")
        self._kind = "real" if kind == "real" else "simulated"
        return self._kind

    def query(
        self, sql: str, params: Sequence[Any] | None = None, *, deterministic: bool = False
    ) -> pl.DataFrame:
        """Run a read query written in DuckDB's dialect."""
        translated, wanted = transpile(sql)
        given = list(params or ())
        if len(given) != wanted:
            raise StorageError(f"a query takes {wanted} parameters and was given {len(given)}")
        return self._run(translated, [_parameter(f"p{n}", v) for n, v in enumerate(given)])

    def _run(
        self,
        sql: str,
        params: Sequence[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter] = (),
    ) -> pl.DataFrame:
        config = bigquery.QueryJobConfig(default_dataset=self._id, query_parameters=list(params))
        try:
            job = self._client.query(
                sql, job_config=config, location=self._location, retry=_RETRY, job_retry=None
            )
            arrow = job.result().to_arrow(create_bqstorage_client=False)
        except google_errors.GoogleAPIError as e:
            raise StorageError(f"a BigQuery query failed: {_message(e)}") from e
        frame = pl.from_arrow(arrow)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _script(self, statements: Sequence[str], params: Sequence[Any] = ()) -> None:
        """Run `statements` in one transaction: all of them take effect, or none."""
        body = "".join(f"{s};\n" for s in statements)
        self._run(f"BEGIN TRANSACTION;\n{body}COMMIT TRANSACTION;", params)

    def _stage(self, frame: pl.DataFrame, schema: list[bigquery.SchemaField]) -> str:
        """Batch-load `frame` into a new staging table that expires by itself; returns its id."""
        name = f"_staging_{uuid.uuid4().hex[:16]}"
        spec = bigquery.Table(self._table_id(name), schema=schema)
        spec.expires = dt.datetime.now(dt.UTC) + _STAGING_LIFETIME
        self._call(lambda: self._client.create_table(spec, retry=_RETRY))
        self._append(name, frame, schema)
        return name

    def _append(self, name: str, frame: pl.DataFrame, schema: list[bigquery.SchemaField]) -> None:
        buffer = io.BytesIO()
        _utc(frame).write_parquet(buffer)
        buffer.seek(0)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            schema=schema,
        )
        self._call(
            lambda: self._client.load_table_from_file(
                buffer, self._table_id(name), job_config=config, rewind=True
            ).result()
        )

    def _drop(self, name: str) -> None:
        self._call(
            lambda: self._client.delete_table(self._table_id(name), not_found_ok=True, retry=_RETRY)
        )

    def write_table(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        replace: bool = True,
        replace_by: str | tuple[str, ...] | None = None,
    ) -> None:
        """Write a derived table: replace it, append to it (`replace=False`), or replace only
        the stored rows whose column `replace_by` (or columns, together) holds a value the
        frame holds (atomically)."""
        if name in LOAD_SCOPES:
            raise StorageError(f"{name!r} is a contract table: load it with Warehouse.load")
        self.ensure_schema()
        schema = _frame_schema(frame)
        if not self.has_table(name) or (replace and replace_by is None):
            self._drop(name)
            spec = _derived_table(self._table_id(name), frame, schema)
            self._call(lambda: self._client.create_table(spec, retry=_RETRY))
            self._append(name, frame, schema)
            return
        if replace_by is None:
            self._append(name, frame, schema)
            return
        staged = self._stage(frame, schema)
        match = " AND ".join(f"s.`{c}` = t.`{c}`" for c in key_columns(replace_by))
        try:
            self._script(
                [
                    f"DELETE FROM `{name}` t "
                    f"WHERE EXISTS (SELECT 1 FROM `{staged}` s WHERE {match})",
                    f"INSERT INTO `{name}` ({_names(frame.columns)}) "
                    f"SELECT {_names(frame.columns)} FROM `{staged}`",
                ]
            )
        finally:
            self._drop(staged)

    def add_quarantine(self, frame: pl.DataFrame) -> int:
        """Append rows to `quarantine`, skipping keys already stored; returns the rows added."""
        t = table("quarantine")
        check_columns(t, frame)
        if frame.is_empty():
            return 0
        self.ensure_schema()
        key = list(t.key)
        incoming = frame.unique(subset=key, keep="first", maintain_order=True)
        stored = self._run(f"SELECT {_names(key)} FROM quarantine")
        fresh = incoming.join(stored, on=key, how="anti", nulls_equal=True)
        if fresh.height:
            self._append("quarantine", fresh, _schema(t))
        return fresh.height

    def load(
        self, frames: Mapping[str, pl.DataFrame], source: LoadSource | None = None
    ) -> LoadResult:
        """Load contract tables atomically; unchanged scopes are skipped (idempotent)."""
        self.ensure_schema()
        result = LoadResult()
        statements: list[str] = []
        staged: list[str] = []
        try:
            statements += self._claim(frames, source)
            for name, frame in frames.items():
                statements += self._load_table(table(name), frame, result, staged)
            if source is not None and result.wrote_anything:
                statements.append(self._record(source, result))
            if statements:
                self._script(statements)
        finally:
            for name in staged:
                self._drop(name)
        return result

    def _claim(self, frames: Mapping[str, pl.DataFrame], source: LoadSource | None) -> list[str]:
        stored = self.kind()
        kind = incoming_kind(self.dataset, stored, frames, source)
        if stored is None and any(frame.height for frame in frames.values()):
            at = "NULL" if source is None else _timestamp(source.at)
            return [f"INSERT INTO dataset_info VALUES ('{self.dataset}', '{kind}', {at})"]
        return []

    def _record(self, source: LoadSource, result: LoadResult) -> str:
        """The load's row in `dataset_loads`. The source names a path, which may hold any
        text: it travels base64-encoded, so nothing in it can end the literal."""
        counts = [result.rows_written.get(c.name, 0) for c in DATASET_LOADS.columns[3:]]
        name = base64.b64encode(source.name.encode()).decode("ascii")
        values = [_timestamp(source.at), f"SAFE_CONVERT_BYTES_TO_STRING(FROM_BASE64('{name}'))"]
        values += [f"'{source.kind}'", *map(str, counts)]
        return f"INSERT INTO dataset_loads VALUES ({', '.join(values)})"

    def _load_table(
        self, t: Table, frame: pl.DataFrame, result: LoadResult, staged: list[str]
    ) -> list[str]:
        scope = check_load_frame(t, frame)
        frame = _utc(
            frame.with_columns(
                pl.lit(self.dataset, dtype=pl.String).alias(c.name) for c in t.stamped
            )
        )
        states = self._scope_states(t, scope, frame)
        counts = states["state"].value_counts()
        count = dict(zip(counts["state"].to_list(), counts["count"].to_list(), strict=True))
        result.new[t.name] = count.get("new", 0)
        result.changed[t.name] = count.get("changed", 0)
        result.unchanged[t.name] = count.get("same", 0)
        writing = frame.join(states.filter(pl.col("state") != "same"), on=list(scope)).drop("state")
        result.rows_written[t.name] = writing.height
        if writing.is_empty():
            return []
        stage = self._stage(writing.sort(list(scope)), _schema(t))
        staged.append(stage)
        match = " AND ".join(f"s.{k} = t.{k}" for k in scope)
        columns = _names(list(t.column_names) + [c.name for c in t.stamped])
        return [
            f"DELETE FROM {t.name} t WHERE EXISTS (SELECT 1 FROM `{stage}` s WHERE {match})",
            f"INSERT INTO {t.name} ({columns}) SELECT {columns} FROM `{stage}`",
        ]

    def _scope_states(self, t: Table, scope: tuple[str, ...], frame: pl.DataFrame) -> pl.DataFrame:
        """Each incoming scope, marked new, changed or the same as stored."""
        races = frame["race_id"].unique().sort().to_list()
        stored = self._run(
            f"SELECT * FROM {t.name} WHERE race_id IN UNNEST(@races)",
            [bigquery.ArrayQueryParameter("races", "STRING", races)],
        ).select(frame.columns)
        incoming = _digests(frame, scope)
        if stored.height:
            stored = _utc(stored.cast(frame.schema))
        known = _digests(stored, scope).rename({"_rows": "_stored"})
        joined = incoming.join(known, on=list(scope), how="left", nulls_equal=True)
        return joined.select(
            *scope,
            pl.when(pl.col("_stored").is_null())
            .then(pl.lit("new"))
            .when(pl.col("_stored") != pl.col("_rows"))
            .then(pl.lit("changed"))
            .otherwise(pl.lit("same"))
            .alias("state"),
        )


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f"`{c}`" for c in columns)


def _timestamp(at: dt.datetime) -> str:
    return f"TIMESTAMP '{at.astimezone(dt.UTC).isoformat()}'"


def _message(e: google_errors.GoogleAPIError) -> str:
    text = getattr(e, "message", None) or str(e)
    return str(text).strip().splitlines()[0]

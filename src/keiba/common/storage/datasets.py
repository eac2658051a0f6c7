"""Datasets: named warehouses, one DuckDB file or BigQuery dataset each, so real and simulated
races never mix.

With `storage.warehouse = "duckdb"` (the default) dataset `name` lives in
`<home>/<storage.warehouse_dir>/<name>.duckdb` (DuckDB keeps a `.wal` beside it while writing);
with `"bigquery"` it is the BigQuery dataset `<storage.bigquery_dataset_prefix><name>` of
`storage.bigquery_project`. `storage.dataset` selects the one commands read and load. Which
kind of races a dataset holds (real or simulated) is recorded by the warehouse itself
(`Warehouse.kind`).
"""

from __future__ import annotations

from pathlib import Path

from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.schema import dataset_name_problem
from keiba.common.storage.warehouse import DuckDBWarehouse, Warehouse

__all__ = [
    "dataset_files",
    "dataset_names",
    "drop_dataset",
    "open_dataset",
    "open_duckdb_dataset",
    "warehouse_location",
]

SUFFIX = ".duckdb"


def _checked(name: str) -> str:
    problem = dataset_name_problem(name)
    if problem:
        raise KeibaError(problem)
    return name


def dataset_names(config: KeibaConfig) -> list[str]:
    """The datasets of the configured warehouse, sorted by name."""
    if config.storage.warehouse == "bigquery":
        return _bigquery_names(config)
    directory = config.warehouse_dir
    if not directory.is_dir():
        return []
    return sorted(
        p.stem
        for p in directory.glob(f"*{SUFFIX}")
        if p.is_file() and dataset_name_problem(p.stem) is None
    )


def _bigquery_names(config: KeibaConfig) -> list[str]:
    # imported when used: the BigQuery client takes a second to import
    from keiba.common.storage.bigquery import bigquery_datasets

    storage = config.storage
    assert storage.bigquery_project is not None  # the configuration insists
    return bigquery_datasets(
        storage.bigquery_project, storage.bigquery_dataset_prefix, storage.bigquery_endpoint
    )


def warehouse_location(config: KeibaConfig, name: str | None = None) -> str:
    """Where the configured warehouse (or dataset `name` in it) is, for a person to read."""
    storage = config.storage
    if storage.warehouse == "bigquery":
        if name is None:
            return f"BigQuery project {storage.bigquery_project}"
        from keiba.common.storage.bigquery import bigquery_dataset_id

        dataset = bigquery_dataset_id(name, storage.bigquery_dataset_prefix)
        return f"BigQuery dataset {storage.bigquery_project}.{dataset}"
    return str(config.warehouse_dir if name is None else config.dataset_path(name))


def dataset_files(config: KeibaConfig, name: str) -> list[Path]:
    """The files of dataset `name` that exist: its DuckDB file and its write-ahead log."""
    path = config.dataset_path(_checked(name))
    return [p for p in (path, path.with_name(path.name + ".wal")) if p.exists()]


def _missing(config: KeibaConfig, name: str) -> KeibaError:
    known = ", ".join(dataset_names(config)) or "none yet"
    where = warehouse_location(config)
    return KeibaError(
        f"there is no dataset {name!r} in {where} (datasets: {known}); "
        f"load one with `keiba data import DIR --dataset {name}`"
    )


def open_dataset(
    config: KeibaConfig,
    name: str | None = None,
    *,
    must_exist: bool = False,
    read_only: bool = False,
) -> Warehouse:
    """The warehouse of dataset `name` (default: the selected one); created unless `must_exist`
    or `read_only`, which both refuse a dataset that does not exist, naming those that do.
    On BigQuery, what a reader may change is a matter of its IAM roles."""
    name = _checked(name or config.storage.dataset)
    if config.storage.warehouse == "bigquery":
        return _open_bigquery(config, name, must_exist=must_exist or read_only)
    return open_duckdb_dataset(config, name, must_exist=must_exist, read_only=read_only)


def open_duckdb_dataset(
    config: KeibaConfig, name: str, *, must_exist: bool = False, read_only: bool = False
) -> DuckDBWarehouse:
    """Dataset `name`'s DuckDB file, for what only the embedded warehouse does (copying a
    dataset as it stood before a day, for a replay)."""
    path = config.dataset_path(_checked(name))
    if (must_exist or read_only) and not path.exists():
        raise _missing(config, name)
    return DuckDBWarehouse(path, dataset=name, read_only=read_only)


def _open_bigquery(config: KeibaConfig, name: str, *, must_exist: bool) -> Warehouse:
    # imported when used: the BigQuery client takes a second to import
    from keiba.common.storage.bigquery import BigQueryWarehouse, bigquery_client, keiba_datasets

    storage = config.storage
    assert storage.bigquery_project is not None  # the configuration insists
    client = bigquery_client(storage.bigquery_project, endpoint=storage.bigquery_endpoint)
    if must_exist:
        try:
            exists = name in keiba_datasets(client, storage.bigquery_dataset_prefix)
        except BaseException:
            client.close()  # type: ignore[no-untyped-call]
            raise
        if not exists:
            client.close()  # type: ignore[no-untyped-call]
            raise _missing(config, name)
    return BigQueryWarehouse(
        client,
        dataset=name,
        prefix=storage.bigquery_dataset_prefix,
        location=storage.bigquery_location,
    )


def drop_dataset(config: KeibaConfig, name: str, *, check_only: bool = False) -> list[Path]:
    """Delete dataset `name` (its file and write-ahead log); returns the files removed, or with
    `check_only` the files it would remove, deleting nothing.

    Nothing else is touched: other datasets, models, ledgers and reports stay as they are.
    """
    if config.storage.warehouse == "bigquery":
        raise KeibaError(
            f"keiba does not delete BigQuery datasets: remove dataset {name!r} with "
            f"`bq rm -r {config.storage.bigquery_project}:"
            f"{config.storage.bigquery_dataset_prefix}{name.replace('-', '_')}`"
        )
    files = dataset_files(config, name)
    if config.dataset_path(name) not in files:
        raise _missing(config, name)
    if check_only:
        return files
    for path in files:
        path.unlink()
    return files

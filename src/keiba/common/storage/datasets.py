"""Datasets: named warehouses, one DuckDB file each, so real and simulated races never mix.

Dataset `name` lives in `<home>/<storage.warehouse_dir>/<name>.duckdb` (DuckDB keeps a `.wal`
beside it while writing); `storage.dataset` selects the one commands read and load. A dataset
maps one-to-one onto a BigQuery dataset. Which kind of races a dataset holds (real or
simulated) is recorded by the warehouse itself (`DuckDBWarehouse.kind`).
"""

from __future__ import annotations

from pathlib import Path

from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.schema import dataset_name_problem
from keiba.common.storage.warehouse import DuckDBWarehouse

__all__ = ["dataset_files", "dataset_names", "drop_dataset", "open_dataset"]

SUFFIX = ".duckdb"


def _checked(name: str) -> str:
    problem = dataset_name_problem(name)
    if problem:
        raise KeibaError(problem)
    return name


def dataset_names(config: KeibaConfig) -> list[str]:
    """The datasets under the warehouse directory, sorted by name."""
    directory = config.warehouse_dir
    if not directory.is_dir():
        return []
    return sorted(
        p.stem
        for p in directory.glob(f"*{SUFFIX}")
        if p.is_file() and dataset_name_problem(p.stem) is None
    )


def dataset_files(config: KeibaConfig, name: str) -> list[Path]:
    """The files of dataset `name` that exist: its DuckDB file and its write-ahead log."""
    path = config.dataset_path(_checked(name))
    return [p for p in (path, path.with_name(path.name + ".wal")) if p.exists()]


def _missing(config: KeibaConfig, name: str) -> KeibaError:
    known = ", ".join(dataset_names(config)) or "none yet"
    return KeibaError(
        f"there is no dataset {name!r} in {config.warehouse_dir} (datasets: {known}); "
        f"load one with `keiba data import DIR --dataset {name}`"
    )


def open_dataset(
    config: KeibaConfig,
    name: str | None = None,
    *,
    must_exist: bool = False,
    read_only: bool = False,
) -> DuckDBWarehouse:
    """The warehouse of dataset `name` (default: the selected one); created unless `must_exist`
    or `read_only`, which both refuse a dataset that does not exist, naming those that do."""
    name = _checked(name or config.storage.dataset)
    path = config.dataset_path(name)
    if (must_exist or read_only) and not path.exists():
        raise _missing(config, name)
    return DuckDBWarehouse(path, dataset=name, read_only=read_only)


def drop_dataset(config: KeibaConfig, name: str) -> list[Path]:
    """Delete dataset `name` (its file and write-ahead log); returns the files removed.

    Nothing else is touched: other datasets, models, ledgers and reports stay as they are.
    """
    files = dataset_files(config, name)
    if config.dataset_path(name) not in files:
        raise _missing(config, name)
    for path in files:
        path.unlink()
    return files

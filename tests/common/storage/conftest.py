"""Stores for the contract tests: object stores (a local directory, and Cloud Storage on an
emulator) and warehouses (DuckDB, and BigQuery on an emulator, `tests/bq_emulator.py`).

The emulators run once per test process on free loopback ports (fixtures in `tests/conftest.py`);
each test gets a prefix of its own in the bucket and a BigQuery dataset of its own. Without the
emulators the cloud cases are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

import bq_emulator
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore, Warehouse


@pytest.fixture(params=["local", "gcs"])
def store_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The root URL of an empty object store, local or on Cloud Storage."""
    if request.param == "local":
        return str(tmp_path / "objects")
    request.getfixturevalue("gcs_emulator_url")
    return str(request.getfixturevalue("gcs_root"))


@pytest.fixture
def store(store_root: str) -> FsspecObjectStore:
    return FsspecObjectStore(store_root)


@pytest.fixture(params=["duckdb", "bigquery"])
def new_warehouse(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], AbstractContextManager[Warehouse]]:
    """Opens an empty warehouse of one dataset: a DuckDB file, or a BigQuery dataset on the
    emulator (a fresh one per test)."""
    if request.param == "duckdb":
        return lambda: DuckDBWarehouse(tmp_path / "w.duckdb")
    from keiba.common.storage.bigquery import BigQueryWarehouse, bigquery_client

    url = str(request.getfixturevalue("bq_emulator_url"))
    name = f"t-{uuid.uuid4().hex[:12]}"
    return lambda: BigQueryWarehouse(
        bigquery_client(bq_emulator.PROJECT, endpoint=url), dataset=name
    )

"""Stores for the contract tests: object stores (a local directory, and Cloud Storage on an
emulator) and warehouses (DuckDB, and BigQuery on an emulator, `tests/bq_emulator.py`).

The emulator (`tests/gcs_emulator.py`) runs once per test process on a free loopback port; each
test gets a prefix of its own in its bucket. Without the emulator the Cloud Storage cases are
skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

import bq_emulator
import gcs_emulator
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore, Warehouse

BUCKET = "keiba-test"


@pytest.fixture(scope="session")
def gcs_emulator_url() -> Iterator[str]:
    gcs_emulator.require()
    with gcs_emulator.running(BUCKET) as url:
        yield url


@pytest.fixture
def gcs_root() -> str:
    """A fresh `gs://` root on the emulator (its own prefix in the test bucket)."""
    return f"gs://{BUCKET}/{uuid.uuid4().hex[:12]}"


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


@pytest.fixture(scope="session")
def bq_emulator_url() -> Iterator[str]:
    bq_emulator.require()
    with bq_emulator.running() as url:
        yield url


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

"""Storage ports (warehouse, object store, ledger database) and their embedded adapters."""

from keiba.common.storage.ledger_db import create_ledger_engine
from keiba.common.storage.object_store import FsspecObjectStore, ObjectExistsError, ObjectStore
from keiba.common.storage.warehouse import (
    DatasetKindError,
    DuckDBWarehouse,
    LoadResult,
    LoadSource,
    Warehouse,
)

__all__ = [
    "DatasetKindError",
    "DuckDBWarehouse",
    "FsspecObjectStore",
    "LoadResult",
    "LoadSource",
    "ObjectExistsError",
    "ObjectStore",
    "Warehouse",
    "create_ledger_engine",
]

"""`contract_frame`: rows as a frame with exactly a contract table's columns and dtypes.

A module of its own (not a conftest) so tests anywhere can import it by one unambiguous name.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from keiba.common.schema import LogicalType, Table

__all__ = ["contract_frame"]

_DTYPES: dict[LogicalType, pl.DataType] = {
    LogicalType.STRING: pl.String(),
    LogicalType.INT: pl.Int64(),
    LogicalType.FLOAT: pl.Float64(),
    LogicalType.BOOL: pl.Boolean(),
    LogicalType.DATE: pl.Date(),
    LogicalType.TIMESTAMP: pl.Datetime("us", "UTC"),
}


def contract_frame(t: Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame with exactly the table's columns and dtypes; missing keys are null."""
    schema = {c.name: _DTYPES[c.type] for c in t.columns}
    return pl.DataFrame(
        [{c.name: row.get(c.name) for c in t.columns} for row in rows], schema=schema, orient="row"
    )

"""The Polars dtype of each logical type of the data contract (`keiba.common.schema`)."""

from __future__ import annotations

import polars as pl

from keiba.common.schema import LogicalType

__all__ = ["POLARS_TYPES"]

POLARS_TYPES: dict[LogicalType, pl.DataType] = {
    LogicalType.STRING: pl.String(),
    LogicalType.INT: pl.Int64(),
    LogicalType.FLOAT: pl.Float64(),
    LogicalType.BOOL: pl.Boolean(),
    LogicalType.DATE: pl.Date(),
    LogicalType.TIMESTAMP: pl.Datetime("us", "UTC"),
}

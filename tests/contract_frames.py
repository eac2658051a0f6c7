"""`contract_frame`: rows as a frame with exactly a contract table's columns and dtypes.

A module of its own (not a conftest) so tests anywhere can import it by one unambiguous name.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from keiba.common.polars_types import POLARS_TYPES
from keiba.common.schema import Table

__all__ = ["contract_frame"]


def contract_frame(t: Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame with exactly the table's columns and dtypes; missing keys are null."""
    schema = {c.name: POLARS_TYPES[c.type] for c in t.columns}
    return pl.DataFrame(
        [{c.name: row.get(c.name) for c in t.columns} for row in rows], schema=schema, orient="row"
    )

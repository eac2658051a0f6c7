"""Starts bqemulator with one correction: a query's `NUMERIC` is BigQuery's NUMERIC(38, 9).

The emulator hands `CAST(x AS NUMERIC)` to DuckDB as `CAST(x AS DECIMAL)`, which DuckDB reads
as DECIMAL(18, 3): three decimals where BigQuery keeps nine. keiba's feature SQL sums exact
decimals, so without this rule the emulator, not BigQuery, would change the features. Run as
`python bq_emulator_main.py start …` (the arguments of `bqemulator`).
"""

from __future__ import annotations

from bqemulator.cli import main
from bqemulator.sql.rules import register
from bqemulator.sql.rules._base import TranslationRule
from sqlglot import exp


@register
class NumericScaleRule(TranslationRule):
    """DuckDB's default DECIMAL(18, 3), which a bare `DECIMAL` becomes → DECIMAL(38, 9)."""

    name = "NUMERIC_SCALE"

    def applies_to(self, node: exp.Expression) -> bool:
        return (
            isinstance(node, exp.DataType)
            and node.this == exp.DataType.Type.DECIMAL
            and [p.this.name for p in node.expressions] == ["18", "3"]
        )

    def rewrite(self, node: exp.Expression) -> exp.Expression:
        return exp.DataType.build("DECIMAL(38, 9)")


if __name__ == "__main__":
    main()

"""The example in docs/data-format.md must itself import cleanly."""

import re
from pathlib import Path

from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.canonical import import_canonical

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-format.md"


def test_documented_example_imports(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"`(\w+)\.csv`\n\n```\n(.*?)```", text, flags=re.S)
    assert {name for name, _ in blocks} == {"races", "runners", "payouts"}
    for name, body in blocks:
        (tmp_path / f"{name}.csv").write_text(body, encoding="utf-8")
    with DuckDBWarehouse(None) as warehouse:
        result = import_canonical(warehouse, tmp_path)
        assert result.new == {"races": 1, "runners": 1, "payouts": 1}
        assert warehouse.query("SELECT count(*) AS n FROM runners")["n"][0] == 4

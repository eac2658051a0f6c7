"""`keiba bankroll`, `keiba audit` and `keiba tax-report`, run in-process on a fresh home."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keiba.cli.main import app


@pytest.fixture
def keiba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in [k for k in os.environ if k.startswith("KEIBA_")]:
        monkeypatch.delenv(name)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--home", str(tmp_path), *args])
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_bankroll_audit_and_tax_report(keiba, tmp_path: Path) -> None:
    assert "available 100,000 yen" in keiba("bankroll", "deposit", "100000")
    keiba("bankroll", "withdraw", "2500", "--cause", "to the bank")
    assert "would take account 'main'" in keiba("bankroll", "withdraw", "1000000", code=1)
    status = json.loads(keiba("bankroll", "status", "--json"))
    assert status == {
        "account": "main",
        "cash_yen": 97_500,
        "reserved_yen": 0,
        "available_yen": 97_500,
    }
    history = json.loads(keiba("bankroll", "history", "--json"))
    assert [(e["kind"], e["cause"]) for e in history] == [
        ("deposit", "deposit"),
        ("withdrawal", "to the bank"),
    ]
    assert "audit chain OK: 3 records" in keiba("audit", "verify")
    exported = json.loads(keiba("audit", "export", "--json"))
    assert exported["seq"] == 3 and exported["written_now"]
    assert not json.loads(keiba("audit", "export", "--json"))["written_now"]
    verified = json.loads(keiba("audit", "verify", "--json"))
    assert verified["ok"] and verified["checkpoints_checked"] == 1

    csv_path = tmp_path / "tax.csv"
    report = json.loads(
        keiba("bankroll", "tax-report", "--year", "2024", "--csv", str(csv_path), "--json")
    )
    assert report["purchases"] == 0 and report["miscellaneous_income_yen"] == 0
    assert csv_path.read_text().startswith("placed_at_jst,")
    assert "雑所得" in keiba("bankroll", "tax-report", "--year", "2024")

    with sqlite3.connect(tmp_path / "ledger" / "ledger.sqlite") as db:
        db.execute("DROP TRIGGER audit_log_append_only_update")  # as the file's owner can
        db.execute("UPDATE audit_log SET content = replace(content, '2500', '250') WHERE seq = 3")
    result = json.loads(keiba("audit", "verify", "--json", code=1))
    assert result["first_bad_seq"] == 3 and "modified" in result["problem"]

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


def test_reconcile_settles_an_unknown_purchase_from_a_downloaded_history(
    keiba, tmp_path: Path
) -> None:
    import datetime as dt

    from keiba.bankroll import Ledger, Ticket
    from keiba.common.clock import FixedClock
    from keiba.common.money import Yen
    from keiba.common.storage import create_ledger_engine
    from keiba.execution.history import HISTORY_COLUMNS

    keiba("bankroll", "deposit", "10000")
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger' / 'ledger.sqlite'}")
    ledger = Ledger.existing(engine, FixedClock(dt.datetime(2018, 11, 25, tzinfo=dt.UTC)), "main")
    race = "2018112505050811"  # 東京 11R on 2018-11-25
    tickets = [Ticket(f"t{i}", race, "win", str(h), Yen(300), "test") for i, h in ((1, 5), (2, 6))]
    ledger.record_decision(race, "test", {}, {}, tickets, decision_id="d1")
    ledger.mark_submitting(["t1", "t2"])
    ledger.mark_unknown(["t1", "t2"], "the answer was lost")
    engine.dispose()
    rows = [
        ",".join(HISTORY_COLUMNS),
        "20181125,0012,1,東京,日,11,単勝,05,300,―,―,0",  # t1 reached the venue, t2 did not
        "20181125,0013,1,京都,日,1,ワイド,18－01,100,―,―,0",  # bought by hand, race unknown here
    ]
    csv = tmp_path / "history.csv"
    csv.write_bytes("\r\n".join([*rows, ""]).encode("cp932"))

    result = json.loads(keiba("bankroll", "reconcile", str(csv), "--json"))
    assert result == [
        {
            "day": "2018-11-25",
            "present": ["t1"],
            "absent": ["t2"],
            "adopted": [],
            "unresolved": ["20181125-0013-1"],
            "failed": "",
        }
    ]
    assert json.loads(keiba("bankroll", "status", "--json"))["cash_yen"] == 9_700
    assert "0 unknown found at the venue, 0 absent" in keiba("bankroll", "reconcile", str(csv))

    csv.write_bytes(b"\x82\xa0,not a history\r\n")
    error = keiba("bankroll", "reconcile", str(csv), code=1)
    assert str(csv) in error and len(error.strip().splitlines()) == 1

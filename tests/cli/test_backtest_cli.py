"""`keiba backtest run` end to end on the shipped 2018 sample, then `keiba backtest report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import keiba as run


@pytest.mark.slow
def test_backtest_a_month_of_2018_from_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(
        tmp_path / "home",
        "backtest",
        "run",
        "--from",
        "2018-03-01",
        "--to",
        "2018-03-31",
        "--source",
        "sample",
        "--bankroll",
        "500000",
        "--drift-sigma",
        "0.05",
        "--out",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["start_yen"] == 500_000
    assert summary["odds_drift"]["sigma"] == 0.05
    assert summary["races"] > 200
    assert set(summary["metrics"]) == {"themis", "favourite", "top_pick", "themis_market"}
    favourite = summary["metrics"]["favourite"]
    assert favourite["bets"] == summary["races"]
    assert 0.4 < favourite["return_rate"]["value"] < 1.2
    assert summary["ledger"]["audit_ok"] is True
    assert any("late-drift model" in c for c in summary["caveats"])
    page = Path(summary["report_path"]).read_text(encoding="utf-8")
    assert page.count("data-chart=") >= 6
    for name in ("result.json", "bets.parquet", "daily.parquet", "predictions.parquet"):
        assert (out / name).exists()

    again = run(tmp_path / "home", "backtest", "report", str(out), "--seasons", "200", "--json")
    assert again.returncode == 0, again.stderr


def test_bad_dates_and_settings_are_refused_clearly(tmp_path: Path) -> None:
    bad_date = run(tmp_path, "backtest", "run", "--from", "2018-13-01", "--to", "2018-12-31")
    assert bad_date.returncode == 2
    assert "'2018-13-01' is not a date YYYY-MM-DD" in bad_date.stderr
    bad_drift = run(
        tmp_path, "backtest", "run", "--from", "2018-03-01", "--to", "2018-03-31", "--drift", "wild"
    )
    assert bad_drift.returncode == 1
    assert "backtest.odds_drift.model" in bad_drift.stderr
    empty = run(tmp_path, "backtest", "run", "--from", "2018-03-01", "--to", "2018-03-31")
    assert empty.returncode == 1
    assert "holds no races" in empty.stderr

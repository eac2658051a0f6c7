"""`keiba bet decide` and `keiba model fit-exotics` through the command line (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keiba.cli.main import app

RACE = {
    "probabilities": {"1": 0.5, "2": 0.3, "3": 0.2},
    "odds": {
        "win": {"1": 2.6, "2": 3.0, "3": 4.5},
        "exacta": {"1>2": 7.0, "2>1": 4.0},
        "place": {"1": {"odds": 1.4, "odds_high": 1.9}},
    },
    "bankroll": {"balance_yen": 1_000_000, "staked_today_yen": 0, "tickets_today": 0},
}


@pytest.fixture
def race_file(tmp_path: Path) -> Path:
    path = tmp_path / "race.json"
    path.write_text(json.dumps(RACE))
    return path


def _run(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.stdout, result.stderr


def test_decide_prints_the_decision_as_json(tmp_path: Path, race_file: Path) -> None:
    code, stdout, _ = _run(tmp_path, "bet", "decide", "--input", str(race_file), "--json")
    assert code == 0
    result = json.loads(stdout)
    assert result["bankroll_yen"] == 1_000_000
    assert ("win", "1") in [(b["bet_type"], b["combination"]) for b in result["bets"]]
    assert result["total_stake_yen"] == sum(b["stake_yen"] for b in result["bets"])
    assert all(b["stake_yen"] % 100 == 0 for b in result["bets"])
    assert len(result["bets"]) + len(result["rejections"]) == 6


def test_decide_prints_a_table(tmp_path: Path, race_file: Path) -> None:
    code, stdout, _ = _run(tmp_path, "bet", "decide", "--input", str(race_file), "--bankroll", "0")
    assert code == 0
    assert "0 bet(s)" in stdout and "zero_bankroll" in stdout


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**RACE, "odds": {"win": {"1": 0.9}}}))
    code, _, stderr = _run(tmp_path, "bet", "decide", "--input", str(bad))
    assert code == 1
    assert stderr.count("\n") == 1 and "odds[win][1] = 0.9: must be above 1.0" in stderr


def test_fit_exotics_without_races_says_so(tmp_path: Path) -> None:
    from keiba.common.storage import DuckDBWarehouse

    with DuckDBWarehouse(tmp_path / "warehouse" / "default.duckdb") as warehouse:
        warehouse.ensure_schema()
    code, _, stderr = _run(tmp_path, "model", "fit-exotics")
    assert code == 1
    assert "no races" in stderr

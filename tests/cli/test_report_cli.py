"""`keiba report` and `keiba simulate --from-backtest` on synthetic backtest runs."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from keiba.cli.main import app
from keiba.cli.report_cli import summary_table
from keiba.evaluator.backtest_frames import STRATEGIES, BacktestRun
from keiba.evaluator.backtest_report import CHART_KEYS, empirical_sample

# the synthetic run directories of tests/evaluator/test_backtest_report.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluator"))
_fixture: Any = importlib.import_module("test_backtest_report")
make_run: Callable[..., Path] = _fixture.make_run
NO_VALUE: float = _fixture.NO_VALUE

Keiba = Callable[..., tuple[int, str, str]]


@pytest.fixture
def keiba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keiba:
    for name in [k for k in os.environ if k.startswith("KEIBA_")]:
        monkeypatch.delenv(name)

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), *args])
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture(scope="module")
def backtests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home's backtests folder: an older run where Themis never bet, and a newer normal one."""
    root = tmp_path_factory.mktemp("home") / "backtests"
    make_run(root, races=240, themis_threshold=NO_VALUE, run_id="20261120T090000Z-old")
    make_run(root, races=240, run_id="20261121T090000Z-new")
    return root


@pytest.fixture
def home(backtests: Path, tmp_path: Path) -> Path:
    """A fresh copy of the module's runs under tmp_path/home (reports are written into runs)."""
    import shutil

    shutil.copytree(backtests, tmp_path / "home" / "backtests")
    return tmp_path / "home"


def test_report_defaults_to_the_latest_run_and_prints_a_summary(keiba: Keiba, home: Path) -> None:
    code, stdout, stderr = keiba("backtest", "report", "--seasons", "50")
    assert code == 0, stderr
    latest = home / "backtests" / "20261121T090000Z-new"
    page = (latest / "report.html").read_text(encoding="utf-8")
    assert all(f'data-chart="{key}"' in page for key in CHART_KEYS)
    flat = " ".join(stdout.split())
    assert flat.startswith("Themis (model + market) ")  # the answer comes first
    assert "20261121T090000Z-new" in flat
    assert "favourite" in flat and "Themis (market)" in flat
    assert "Report:" in flat and "report.html" in flat
    assert "Monte Carlo on the run's own" in flat
    assert "note:" in flat  # the caveats
    assert "written in" in stderr


def test_report_json_and_out(keiba: Keiba, home: Path, tmp_path: Path) -> None:
    old = home / "backtests" / "20261120T090000Z-old"
    out = tmp_path / "elsewhere"
    code, stdout, stderr = keiba(
        "backtest", "report", str(old), "--out", str(out), "--seasons", "40", "--json"
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["report"] == str(out / "report.html") and (out / "report.html").exists()
    assert not (old / "report.html").exists()
    assert summary["run_id"] == "20261120T090000Z-old"
    assert [s["strategy"] for s in summary["strategies"]] == list(STRATEGIES)
    themis = summary["strategies"][0]
    assert themis["bets"] == 0 and themis["return_rate"]["value"] is None
    favourite = summary["strategies"][1]
    metrics = BacktestRun.load(old).result["metrics"]["favourite"]
    assert favourite["return_rate"] == metrics["return_rate"]
    assert favourite["max_drawdown"] == metrics["max_drawdown"]["fraction"]
    mc = summary["monte_carlo"]
    assert mc["empirical"] is False and "fewer than 30" in mc["source"]
    assert mc["params"]["seasons"] == 40 and mc["kelly_fraction"] == 0.25
    # too few Themis bets to resample: nothing is simulated
    assert mc["scenarios"] == [] and mc["fans"] == [] and mc["ruin_curve"]["fractions"] == []
    assert any("placed no bets" in c for c in summary["caveats"])


def test_report_latest_and_the_same_seed_give_the_same_page(keiba: Keiba, home: Path) -> None:
    pages = []
    for _ in range(2):
        code, _, stderr = keiba(
            "backtest", "report", "latest", "--seasons", "30", "--seed", "5", "--json"
        )
        assert code == 0, stderr
        pages.append((home / "backtests" / "20261121T090000Z-new" / "report.html").read_bytes())
    assert pages[0] == pages[1]


def test_report_errors(keiba: Keiba, tmp_path: Path) -> None:
    code, _, stderr = keiba("backtest", "report")
    assert code == 1 and "no backtest run" in stderr
    code, _, stderr = keiba("backtest", "report", str(tmp_path))
    assert code == 1 and "not a backtest run" in stderr


def test_summary_table(backtests: Path) -> None:
    result = BacktestRun.load(backtests / "20261121T090000Z-new").result
    table = summary_table(result)
    assert table.row_count == len(STRATEGIES)
    console = Console(width=80, record=True)
    console.print(table)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) == 5 + len(STRATEGIES)  # title, blank, header, rule, rows, blank: no wraps
    rr = result["metrics"]["favourite"]["return_rate"]
    assert f"{rr['value']:.1%}" in text and f"{rr['low']:.1%}–{rr['high']:.1%}" in text
    assert f"{result['metrics']['themis']['profit_yen']:+,}" in text
    # a strategy without bets shows dashes, not zeros
    assert summary_table({"metrics": {"themis": {"bets": 0, "label": "T"}}}).row_count == 1


def test_simulate_from_a_backtest(keiba: Keiba, home: Path) -> None:
    new = home / "backtests" / "20261121T090000Z-new"
    sample = empirical_sample(BacktestRun.load(new))
    args = (
        "backtest",
        "simulate",
        "--seasons",
        "40",
        "--fractions",
        "0.25,1",
        "--overestimate",
        "1,2",
    )
    code, stdout, stderr = keiba(*args, "--from-backtest", "latest", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    p = result["params"]
    assert p["bets"] == sample.bets_per_season and p["bet_share"] == 1.0
    assert p["empirical"]["pairs"] == sample.bets
    assert p["start_yen"] == 1_000_000 and p["growth_cap"] == 1_000
    assert result["from_backtest"]["run"] == str(new)
    assert len(result["scenarios"]) == 4
    # the same run by its directory, in a table
    code, stdout, _ = keiba(*args, "--from-backtest", str(new))
    assert code == 0
    assert f"Bets resampled from the {sample.bets:,} Themis bets" in " ".join(stdout.split())
    # --races still sets the season's length
    code, stdout, _ = keiba(*args, "--from-backtest", str(new), "--races", "77", "--json")
    assert code == 0 and json.loads(stdout)["params"]["bets"] == 77


def test_simulate_from_a_backtest_with_too_few_themis_bets_refuses(
    keiba: Keiba, home: Path
) -> None:
    old = home / "backtests" / "20261120T090000Z-old"
    code, _, stderr = keiba("backtest", "simulate", "--seasons", "10", "--from-backtest", str(old))
    assert code == 1
    message = " ".join(stderr.split())
    assert "has 0 themis bet(s)" in message and "fewer than 30" in message
    # without the option, the assumed distribution is the default
    code, stdout, _ = keiba("backtest", "simulate", "--seasons", "10", "--races", "20", "--json")
    assert code == 0 and json.loads(stdout)["params"]["empirical"] is None

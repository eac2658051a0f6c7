"""End-to-end tests of the `keiba` command on a small world (in-process, see cli_runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import keiba as run


def test_help_lists_every_group(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for group in ("data", "model", "bet", "backtest", "bankroll", "audit", "monitor", "bench"):
        assert f"  {group} " in result.stdout
    for verb in ("demo", "info"):
        assert f"  {verb} " in result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    result = run(
        out / "home",
        "data",
        "generate",
        "--years",
        "1",
        "--seed",
        "3",
        "--out",
        str(out / "w"),
        "--format",
        "csv",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"]["races"] > 3000
    assert 0.25 < summary["market"]["favourite_win_rate"] < 0.40
    return out / "w"


def test_generate_writes_every_canonical_table(world: Path) -> None:
    for name in ("races", "runners", "payouts", "odds", "true_probabilities"):
        assert (world / f"{name}.csv").stat().st_size > 0


def test_import_is_idempotent_from_the_cli(world: Path, tmp_path: Path) -> None:
    first = run(tmp_path, "data", "import", "--format", "canonical", str(world), "--json")
    assert first.returncode == 0, first.stderr
    second = run(tmp_path, "data", "import", "--format", "canonical", str(world), "--json")
    assert second.returncode == 0, second.stderr
    (loaded,) = json.loads(first.stdout)
    (again,) = json.loads(second.stdout)
    assert loaded["new"]["races"] > 3000
    assert set(again["rows_written"].values()) == {0}
    assert again["unchanged"]["races"] == loaded["new"]["races"]


def test_bad_file_is_reported_with_file_line_and_column(world: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    lines = (world / "races.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("distance_m")] = "long"
    (bad / "races.csv").write_text("\n".join([lines[0], *lines[1:5], ",".join(row)]) + "\n")
    result = run(tmp_path / "home", "data", "import", "--format", "canonical", str(bad))
    assert result.returncode == 1
    assert "races.csv, line 6, column 'distance_m': not a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_configuration_key_stops_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "keiba.yaml").write_text("themis:\n  kelly_fractoin: 0.5\n")
    result = run(tmp_path, "demo")
    assert result.returncode == 1
    assert "themis.kelly_fractoin" in result.stderr and "keiba.yaml" in result.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end_and_writes_a_report(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "demo",
        "--source",
        "simulated",
        "--years",
        "2",
        "--seed",
        "11",
        "--json",
        # An EV threshold of 1 makes Themis buy wherever the combination sees any value, so
        # the ledger has tickets to check whatever edge this world happens to offer.
        env={"KEIBA_MODEL__NUM_BOOST_ROUND": "40", "KEIBA_THEMIS__EV_THRESHOLD": "1.0"},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    scores = summary["scores"]
    assert set(scores) == {"p_market", "p_model", "p_combined", "p_true", "p_knowable"}
    races = {s["races"] for s in scores.values()}
    assert len(races) == 1 and races.pop() > 300  # all judged on the same races
    assert scores["p_true"]["log_loss"] < scores["p_market"]["log_loss"]
    # the day's form is worth something: the past can know less than the truth
    assert scores["p_true"]["log_loss"] < scores["p_knowable"]["log_loss"]
    assert scores["p_knowable"]["log_loss"] < scores["p_model"]["log_loss"]
    assert scores["p_model"]["pseudo_r2"] > 0
    assert summary["staked_yen"] % 100 == 0
    assert summary["final_bankroll_yen"] == (
        summary["starting_bankroll_yen"] - summary["staked_yen"] + summary["returned_yen"]
    )
    page = Path(summary["report_path"]).read_text(encoding="utf-8")
    for chart in ("log_loss", "calibration"):
        assert f'data-chart="{chart}"' in page
    assert "<script" not in page and "http" not in page.split("<svg", 1)[0]
    # every ticket of the demo ledger was bought under a recorded decision
    assert summary["bets"] > 0
    year = summary["test_period"][1][:4]
    tax = run(
        tmp_path,
        "bankroll",
        "tax-report",
        "--account",
        "demo",
        "--year",
        year,
        "--json",
        env={"KEIBA_STORAGE__LEDGER_URL": f"sqlite:///{tmp_path / 'demo' / 'ledger.sqlite'}"},
    )
    assert tax.returncode == 0, tax.stderr
    report = json.loads(tax.stdout)
    assert report["purchases"] > 0
    assert report["races_by_recorded_rule"] == report["races"]


@pytest.mark.slow
def test_default_demo_runs_on_the_real_2018_sample(tmp_path: Path) -> None:
    result = run(tmp_path, "demo", "--json", env={"KEIBA_MODEL__NUM_BOOST_ROUND": "40"})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert "2018" in summary["data_source"]
    assert summary["races"] == 3454
    # the answer first: did Themis make money, and do the probabilities beat the market's
    assert summary["answer"].startswith("Themis ") and "ΔR²" in summary["answer"]
    rate = summary["return_rate_interval"]
    assert rate["value"] is None or rate["low"] <= rate["value"] <= rate["high"]
    assert set(summary["scores"]) == {"p_market", "p_model", "p_combined"}
    assert summary["test_period"][1] == "2018-12-28"
    market = summary["scores"]["p_market"]
    assert 0.2 < market["pseudo_r2"] < 0.35  # the real JRA market, out of sample
    # Races whose non-finishers are missing from the source are neither scored nor bet.
    assert any("lack rows for some declared runners" in c for c in summary["caveats"])
    assert market["races"] < 851


@pytest.mark.slow
def test_bench_reports_every_step(tmp_path: Path) -> None:
    result = run(tmp_path, "bench", "data", "--years", "1", "--seed", "2", "--json")
    assert result.returncode == 0, result.stderr
    steps = [r["step"] for r in json.loads(result.stdout)["results"]]
    assert steps == [
        "generate 1 years",
        "market statistics",
        "write canonical parquet",
        "import canonical parquet",
        "write canonical csv",
        "import canonical csv",
        "build features",
        "train model",
    ]

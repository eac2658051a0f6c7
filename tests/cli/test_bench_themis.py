"""`keiba bench themis`: one run times today's engine, the previous one and single-pool Kelly."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import keiba as run


def test_bench_themis_reports_ratios_against_the_previous_engine(tmp_path: Path) -> None:
    result = run(tmp_path, "bench", "themis", "--races", "1", "--seed", "3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    full = report["full_decision"]
    assert full["quotes_per_race"] == 6396
    assert full["speed_ratio_median"] > 0 and full["largest_objective_difference"] < 1e-9
    assert len(full["decisions_sha256"]) == 64
    assert set(full["no_ev_screen"]) == {"median_ms", "p99_ms", "max_ms"}
    collector = full["cpu_time"]["garbage_collection"]
    assert collector["total_ms"] >= 0 and collector["p99_ms_without"] <= full["cpu_time"]["max_ms"]
    kelly = report["single_pool_kelly"]
    assert kelly["largest_stake_difference_slsqp"] < 1e-4
    assert kelly["penaltyblog"] == "not installed" or kelly["penaltyblog"]["ratio"] > 0
    table = run(tmp_path, "bench", "themis", "--races", "1", "--no-reference")
    assert table.returncode == 0 and "previous_engine" not in table.stdout


def test_bench_themis_profiles_the_phases_of_the_same_decisions(tmp_path: Path) -> None:
    result = run(tmp_path, "bench", "themis", "--races", "2", "--seed", "3", "--profile", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    phases = report["phases_cpu"]
    assert phases["decision"]["calls"] == 2 and phases["validation"]["calls"] == 2
    per_race = report["newton_systems_per_race"]
    assert len(per_race) == 2 and min(per_race) > 0
    assert report["newton_systems"] == sum(per_race) == phases["newton systems"]["calls"]
    inner = ("interior point", "newton's method", "screen", "validation")
    assert all(phases[name]["total_ms"] <= phases["decision"]["total_ms"] for name in inner)
    table = run(tmp_path, "bench", "themis", "--races", "1", "--profile")
    assert table.returncode == 0 and "Newton systems:" in table.stdout

"""`keiba model train → evaluate → predict` end to end on a small simulated world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import Outcome
from cli_runner import keiba as run

SMALL_MODEL = {
    "KEIBA_MODEL__NUM_BOOST_ROUND": "15",
    "KEIBA_MODEL__NUM_LEAVES": "7",
    "KEIBA_MODEL__LEARNING_RATE": "0.1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def keiba(home: Path, *args: str) -> Outcome:
    return run(home, *args, env=SMALL_MODEL)


def ok(result: Outcome) -> dict:  # type: ignore[type-arg]
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_train_evaluate_predict_on_a_simulated_world(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    ok(
        keiba(
            home,
            "data",
            "generate",
            "--years",
            "1",
            "--seed",
            "7",
            "--out",
            str(tmp_path / "w"),
            "--json",
        )
    )
    ok(keiba(home, "data", "import", "--format", "canonical", str(tmp_path / "w"), "--json"))

    trained = ok(keiba(home, "model", "train", "--json"))
    version = trained["model_version"]
    periods = trained["periods"]
    assert periods["train_from"] < periods["train_to"] < periods["combine_from"]
    assert trained["mlflow"]["tracking_uri"].startswith("sqlite:///")
    assert (home / "mlflow" / "mlflow.db").exists()
    assert (home / "objects" / "models" / version / "combination.json").exists()

    evaluated = ok(
        keiba(home, "model", "evaluate", "--model", version, "--resamples", "100", "--json")
    )
    assert evaluated["test_period"][0] > periods["combine_to"]
    scores = evaluated["scores"]
    assert {"p_market", "p_model", "p_combined", "p_true"} <= set(scores)
    assert len({s["races"] for s in scores.values()}) == 1  # the same races for all
    d = evaluated["delta_r2_vs_market"]["p_combined"]
    assert d["low"] <= d["delta"] <= d["high"]
    assert scores["p_true"]["log_loss"] < scores["p_market"]["log_loss"]
    assert set(evaluated["breakdowns"]) == {"surface", "race_class"}
    assert 0 < evaluated["top_pick_win_rate"]["favourite"] < 1
    # The human-readable rendering of the same result.
    from keiba.cli import model_cli

    model_cli._print_evaluation(evaluated)
    printed = capsys.readouterr().out
    assert "ΔR² model + market − market" in printed and "By surface" in printed

    first = ok(keiba(home, "model", "predict", "--from", evaluated["test_period"][0], "--json"))
    assert first["model_version"] == version and first["rows"] > 0
    again = ok(keiba(home, "model", "predict", "--from", evaluated["test_period"][0], "--json"))
    assert again["rows"] == first["rows"]
    import duckdb

    con = duckdb.connect(str(home / "warehouse" / "default.duckdb"), read_only=True)
    try:
        total, distinct, versions = con.execute(
            "SELECT count(*), count(DISTINCT (race_id, horse_no, model_version)), "
            "count(DISTINCT model_version) FROM predictions"
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    assert total == distinct == first["rows"] and versions == 1

    bad = keiba(home, "model", "evaluate", "--model", "fm-000000000000")
    assert bad.returncode == 1 and "not in the object store" in bad.stderr
    bad_date = keiba(home, "model", "train", "--to", "2015-13-01")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr


@pytest.mark.slow
def test_walk_forward_by_year_on_a_two_season_world(tmp_path: Path) -> None:
    home = tmp_path / "home"
    world = tmp_path / "w"
    generate = ("data", "generate", "--years", "2", "--seed", "7", "--out", str(world), "--json")
    ok(keiba(home, *generate))
    ok(keiba(home, "data", "import", "--format", "canonical", str(world), "--json"))
    result = ok(
        keiba(home, "model", "walk-forward", "--years", "2016", "--resamples", "50", "--json")
    )
    year, pooled = result["rows"]
    assert (year["year"], pooled["year"]) == ("2016", "pooled")
    assert year["races"] == pooled["races"] > 0
    assert year["train_to"] < year["combine_from"] <= year["combine_to"] < year["test_from"]
    assert year["test_from"].startswith("2016") and year["combine_to"].startswith("2015")
    assert result["mlflow"]["run_id"] and (home / "mlflow" / "mlflow.db").exists()
    table = keiba(
        home,
        "model",
        "walk-forward",
        "--years",
        "2016",
        "--resamples",
        "50",
        "--without",
        "draw",
        "--stage",
        "band",
    )
    assert table.returncode == 0, table.stderr[-3000:]
    assert "Pooled 95% interval" in table.stdout
    assert "Without each feature group" in table.stdout and "│ draw " in table.stdout
    assert "The band stage against the plain one" in table.stdout
    assert "Pooled 95% interval of the band stage against the plain one" in table.stdout
    lines = [line for line in table.stdout.splitlines() if not line.startswith("MLflow run: ")]
    assert max(len(line) for line in lines) <= 80  # the run's path is printed whole


def test_walk_forward_years_must_be_years(tmp_path: Path) -> None:
    bad = keiba(tmp_path, "model", "walk-forward", "--years", "2019-20x")
    assert bad.returncode == 2 and "'2019-20x' is not a year or a range YYYY-YYYY" in bad.stderr
    backwards = keiba(tmp_path, "model", "walk-forward", "--years", "2022-2019")
    assert backwards.returncode == 2 and "in order" in backwards.stderr
    unknown = keiba(tmp_path, "model", "walk-forward", "--years", "2019", "--without", "luck")
    assert unknown.returncode == 2 and "'luck' is not a feature group" in unknown.stderr
    stage = keiba(tmp_path, "model", "walk-forward", "--years", "2019", "--stage", "luck")
    assert stage.returncode == 2 and "'luck' is not a market stage" in stage.stderr
    both = keiba(
        tmp_path, "model", "walk-forward", "--years", "2019", "--stage", "band", "--market-feature"
    )
    assert both.returncode == 2 and "one at a time" in both.stderr


def test_tune_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = keiba(tmp_path, "model", "tune", "--years", "2019-20x")
    assert bad.returncode == 2 and "'2019-20x' is not a year or a range YYYY-YYYY" in bad.stderr
    zero = keiba(tmp_path, "model", "tune", "--years", "2019", "--trials", "0")
    assert zero.returncode == 2 and "--trials" in zero.stderr
    missing = keiba(tmp_path, "model", "tune", "--years", "2019", "--dataset", "nothing")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().count("\n") == 0, missing.stderr

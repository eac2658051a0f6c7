"""`keiba data collect|reparse|status` against a loopback server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "data_collector"))
from netkeiba_fixtures import serve

from keiba.cli.main import app


def invoke(home: Path, base: str, *args: str) -> tuple[int, str]:
    env = {
        "KEIBA_COLLECTOR__RACE_BASE_URL": base,
        "KEIBA_COLLECTOR__REQUESTS_PER_SECOND": "100",
        "KEIBA_COLLECTOR__MAX_RETRIES": "0",
    }
    result = CliRunner().invoke(app, ["--home", str(home), *args], env=env)
    return result.exit_code, result.output


def test_collect_status_and_reparse(tmp_path: Path) -> None:
    with serve() as (base, _):
        code, output = invoke(tmp_path, base, "data", "collect", "--from", "2026-06-28", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["races_listed"] == 36 and report["ingest"]["races"] == 1
    code, output = invoke(tmp_path, "http://127.0.0.1:9", "data", "status", "--json")
    assert code == 0
    (listed,) = json.loads(output)["datasets"]
    assert (listed["name"], listed["kind"], listed["races"]) == ("default", "real", 1)
    assert listed["selected"] is True
    code, output = invoke(tmp_path, "http://127.0.0.1:9", "data", "status", "default", "--json")
    assert code == 0
    details = json.loads(output)
    assert [load["source"] for load in details["loads"]]
    status = details["contents"]
    assert status["races"] == [
        {"year": 2026, "venue_code": 2, "surface": "dirt", "races": 1, "runners": 10,
         "payouts": 12, "venue": "函館"},
    ]  # fmt: skip
    assert status["odds"] == [{"stage": "final", "snapshots": 1, "rows": 32}]
    assert status["totals"]["entries"] == 10
    code, output = invoke(
        tmp_path, "http://127.0.0.1:9", "data", "reparse"
    )  # no server: no network
    assert code == 0 and "races 1" in output


@pytest.mark.parametrize(("status", "message"), [(429, "stopped"), (200, "quarantined")])
def test_collect_exits_non_zero_saying_why(tmp_path: Path, status: int, message: str) -> None:
    def bad(path: str, count: int) -> tuple[int, bytes, float] | None:
        return (status, b"\x00garbage", 0.0) if path.startswith("/race/result") else None

    with serve(behaviour=bad) as (base, _):
        code, output = invoke(tmp_path, base, "data", "collect", "--from", "2026-06-28")
    assert code == 1 and message in output


def test_datasets_are_kept_apart_listed_and_dropped(tmp_path: Path) -> None:
    from cli_runner import keiba

    from keiba.evaluator.main_job import SAMPLE_DIR

    home = tmp_path / "home"
    world = tmp_path / "world"
    assert keiba(home, "data", "import", str(SAMPLE_DIR), "--dataset", "jra").code == 0
    made = keiba(home, "data", "generate", "--years", "1", "--seed", "5", "--out", str(world))
    assert made.code == 0, made.stderr
    mixed = keiba(home, "data", "import", str(world), "--dataset", "jra")
    assert mixed.code == 1 and "holds real races and these are simulated" in mixed.stderr
    assert keiba(home, "data", "import", str(world), "--dataset", "sim").code == 0

    listed = json.loads(keiba(home, "data", "status", "--json").stdout)["datasets"]
    kinds = {row["name"]: (row["kind"], row["races"]) for row in listed}
    assert kinds["jra"] == ("real", 3_454) and kinds["sim"][0] == "simulated"
    assert "default" not in kinds  # nothing was written to the selected dataset

    refused = CliRunner().invoke(app, ["--home", str(home), "data", "drop", "sim"], input="n\n")
    assert refused.exit_code == 1 and "nothing deleted" in refused.stderr
    assert (home / "warehouse" / "sim.duckdb").exists()
    dropped = keiba(home, "data", "drop", "sim", "--yes", "--json")
    assert dropped.code == 0
    assert json.loads(dropped.stdout)["removed"] == [str(home / "warehouse" / "sim.duckdb")]
    after = json.loads(keiba(home, "data", "status", "--json").stdout)["datasets"]
    assert [row["name"] for row in after] == ["jra"]
    missing = keiba(home, "data", "drop", "sim", "--yes")
    assert missing.code == 1 and "there is no dataset 'sim'" in missing.stderr

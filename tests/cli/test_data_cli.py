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
    status = json.loads(output)
    assert code == 0
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

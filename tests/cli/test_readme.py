"""The README's commands, run in order in an empty home, each do what the README says.

Each line of the "Using it" block runs in this process (as the installed `keiba` would) from an
empty working folder; its effect is then checked: the datasets it lists, the world it writes,
the dataset it fills, the report it makes, the dataset it drops. The model is kept small, so
the figures are not the README's point here: that every command works, in that order.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from cli_runner import Outcome, keiba

README = Path(__file__).resolve().parents[2] / "README.md"
SMALL = {"KEIBA_MODEL__NUM_BOOST_ROUND": "30", "MLFLOW_DISABLE_TELEMETRY": "true"}


def readme_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Using it\n.*?```\n(.*?)```", text, flags=re.S)
    assert block, "the README has no 'Using it' block"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line.split("#", 1)[0])
        if words:
            assert words[0] == "keiba", line
            commands.append(words[1:])
    return commands


@pytest.mark.slow
def test_the_readme_commands_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    done: dict[str, Outcome] = {}
    for words in readme_commands():
        json_ok = words[0] in ("info", "demo") or words[:2] in (
            ["data", "status"], ["data", "import"], ["backtest", "run"], ["data", "drop"],
        )  # fmt: skip
        result = keiba(home, *words, *(["--json"] if json_ok else []), env=SMALL)
        assert result.code == 0, (words, result.stderr[-2000:])
        done[" ".join(words[:2])] = result

    info = json.loads(done["info"].stdout)
    assert info["home"] == str(home)
    assert (tmp_path / "worlds" / "two-years" / "races.parquet").exists()
    (imported,) = json.loads(done["data import"].stdout)
    assert imported["new"]["races"] > 3_000
    demo = json.loads(done["demo --dataset"].stdout)
    assert (demo["dataset"], demo["dataset_kind"]) == ("sim", "simulated")
    backtest = json.loads(done["backtest run"].stdout)
    assert backtest["races"] > 2_000 and backtest["ledger"]["audit_ok"] is True
    assert done["backtest report"].stdout.startswith("Themis (model + market) ")
    assert "Risk" in done["backtest simulate"].stdout
    for printed in ("backtest report", "backtest simulate"):
        for line in done[printed].stdout.splitlines():
            # within 80 columns, but for lines that carry a path, which are never cut
            assert len(line) <= 80 or str(home) in line, (printed, line)
    dropped = json.loads(done["data drop"].stdout)
    assert dropped["removed"] == [str(home / "warehouse" / "sim.duckdb")]
    # the backtest's sample kept a dataset of its own; nothing went into the default one
    assert {p.stem for p in (home / "warehouse").glob("*.duckdb")} == {"jra2018-sample"}

"""`keiba run --twin`: a whole simulated race day from the command line, with paper buying.

A two-season world, a small model and a coarse polling timeline (`CONFIG`) keep it short.
The day is then run again: a finished day resumes to the same table without deciding, buying or
settling anything twice; and replayed from the pages it recorded, to the same table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import keiba, keiba_process

from keiba.bankroll import Ledger
from keiba.common.clock import SystemClock
from keiba.common.storage import create_ledger_engine

CONFIG = """\
demo:
  years: 2
model:
  num_boost_round: 30
race_day:
  watch_from_min: 60
  weights_lead_min: 30
  poll_bands: [[10, 25], [0, 10]]
"""
"""The odds are polled 60, 35 and 10 minutes before post, at post and 10 minutes after (the
decision, 8 minutes before post, reads the poll 10 minutes before): polled every 5 minutes, the
run and its replay fetched and loaded 15 odds pages a race, for the same claims."""


@pytest.mark.slow
def test_a_twin_race_day_runs_to_its_end_and_runs_again_to_the_same_table(
    tmp_path: Path,
) -> None:
    config = tmp_path / "keiba.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    home = tmp_path / "home"
    first = keiba_process(home, "--config", str(config), "run", "--twin", "--json")
    assert first.code == 0, first.stderr
    day = json.loads(first.stdout)
    races = day["races"]
    assert len(races) == 36 and len({r["race_id"] for r in races}) == 36
    assert {r["outcome"] for r in races} <= {"bought", "passed"}
    assert all(r["reason"] for r in races)
    ledger_path = Path(day["journal"]).parent / "ledger.sqlite"
    ledger = Ledger(create_ledger_engine(f"sqlite:///{ledger_path}"), SystemClock(), "paper")
    tickets = ledger.tickets()
    assert all(t["state"] == "settled" for t in tickets)
    assert sum(r["staked_yen"] for r in races) == sum(int(t["stake_yen"]) for t in tickets)
    assert day["balance_yen"] == int(ledger.balance())
    assert day["release_id"].startswith("r-")  # the twin promoted its own model, audited

    again = keiba_process(home, "--config", str(config), "run", "--twin", "--json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["races"] == races
    assert ledger.tickets() == tickets

    table = keiba_process(home, "--config", str(config), "run", "--twin")
    assert table.code == 0, table.stderr
    assert "36 races:" in table.stdout
    assert f"release {day['release_id']}" in table.stdout

    dataset = Path(day["journal"]).parent.parent.name  # race-days/<dataset>/<date>/journal
    replay = ("run", "--replay", "--dataset", dataset, "--date", day["race_date"], "--json")
    replayed = keiba_process(home, "--config", str(config), *replay)
    assert replayed.code == 0, replayed.stderr
    assert json.loads(replayed.stdout)["races"] == races  # from its recorded pages, the same
    lines = [line for line in table.stdout.splitlines() if not line.startswith("Journal: ")]
    assert max(len(line) for line in lines) <= 80  # a path is printed whole, never cut


def test_a_live_race_day_needs_its_date(tmp_path: Path) -> None:
    result = keiba(tmp_path, "run")
    assert result.code == 2
    assert "a live race day needs its date" in result.stderr


def test_a_replay_needs_a_recorded_day(tmp_path: Path) -> None:
    assert "a replay needs the recorded day" in keiba(tmp_path, "run", "--replay").stderr
    assert "only a replay can start over" in keiba(tmp_path, "run", "--fresh").stderr
    assert "only a replay keeps a pace" in keiba(tmp_path, "run", "--pace", "60").stderr
    never = keiba(tmp_path, "run", "--replay", "--date", "2026-06-28")
    assert never.code == 1
    assert never.stderr.strip().splitlines() == [
        "error: no pages were recorded for 2026-06-28 in dataset 'default': a day is recorded "
        "by running it (`keiba run --date`)"
    ]

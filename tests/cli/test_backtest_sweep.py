"""`keiba backtest sweep`: a grid of settings backtested by the tasks of a job, merged once.

The same grid on the shipped 2018 season is swept by one task, and by two tasks run one after
the other as separate calls with Cloud Run's `CLOUD_RUN_TASK_INDEX` / `CLOUD_RUN_TASK_COUNT`,
each into an object store of its own: the merged reports are the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cli_runner import keiba
from hypothesis import given
from hypothesis import strategies as st

from keiba.app.backtest_sweep import (
    MAX_POINTS,
    load_grid,
    run_sweep_task,
    share,
    with_settings,
)
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import ConfigError
from keiba.common.storage.object_store import FsspecObjectStore
from keiba.evaluator.main_job import SAMPLE_DATASET, load_sample_dataset

CLOCK_AT = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
GRID = {
    "from": "2018-03-01",
    "to": "2018-03-18",
    "grid": {
        "themis.ev_threshold": [1.0, 1.3],
        "themis.kelly_fraction": [0.5],
        "backtest.odds_drift": [{"sigma": 0.4, "seed": 1}],  # late odds that tempt Themis
    },
}


def _sweep(home: Path, grid: Path, store: Path, task: tuple[int, int] | None) -> dict[str, Any]:
    env = {"KEIBA_STORAGE__OBJECT_STORE_URL": str(store), "KEIBA_LOGGING__LEVEL": "warning"}
    if task is not None:
        env |= {"CLOUD_RUN_TASK_INDEX": str(task[0]), "CLOUD_RUN_TASK_COUNT": str(task[1])}
    args = ("backtest", "sweep", "--grid", str(grid), "--dataset", SAMPLE_DATASET, "--json")
    done = keiba(home, *args, env=env)
    assert done.code == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _report(store: Path, done: dict[str, Any]) -> bytes:
    return (store / "sweeps" / done["sweep_id"] / "report.json").read_bytes()


@pytest.mark.slow
def test_tasks_share_the_sweep_and_merge_what_one_task_makes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    load_sample_dataset(load_config(None, home), FixedClock(CLOCK_AT))
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(GRID))

    alone = _sweep(home, grid, tmp_path / "one", None)
    assert alone["ran"] == [0, 1] and alone["report"]

    shared = tmp_path / "two"
    second = _sweep(home, grid, shared, (1, 2))
    assert second["ran"] == [1] and second["report"] is None  # point 0 is not there yet
    first = _sweep(home, grid, shared, (0, 2))
    assert first["ran"] == [0] and first["report"]
    assert first["sweep_id"] == second["sweep_id"] == alone["sweep_id"]
    assert _report(shared, first) == _report(tmp_path / "one", alone)

    again = _sweep(home, grid, shared, (0, 2))  # Cloud Run retries a task: nothing is redone
    assert again["ran"] == [] and again["present"] == [0]
    assert _report(shared, again) == _report(tmp_path / "one", alone)

    report = json.loads(_report(shared, first))
    assert [p["settings"]["themis.ev_threshold"] for p in report["points"]] == [1.0, 1.3]
    themis = [
        next(s for s in p["strategies"] if s["strategy"] == "themis") for p in report["points"]
    ]
    assert themis[0]["bets"] > 0 and themis[0] != themis[1]  # the settings took effect
    assert all(p["audit_ok"] for p in report["points"])
    assert "overfits" in report["caveats"][0]


def _figures(config: KeibaConfig, date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    """A stand-in for a backtest's result: figures that depend on the settings it was given."""
    t = config.themis
    bets = int(100 / t.ev_threshold * t.kelly_fraction) + (date_to - date_from).days
    return {
        "races": 40,
        "metrics": {"themis": {"bets": bets, "staked_yen": bets * 100}},
        "ledger": {"audit_ok": True},
    }


def test_three_tasks_on_cloud_storage_merge_what_one_task_makes(
    gcs_emulator_url: str, gcs_root: str, tmp_path: Path
) -> None:
    """The split and the merge on the Cloud Storage emulator (write-once objects, listings),
    the backtests replaced by a stand-in."""
    spec = load_grid(
        json.dumps({**GRID, "grid": {"themis.ev_threshold": [1.0, 1.1, 1.2, 1.3, 1.5]}}), "g"
    )
    config = load_config(None, tmp_path / "home")
    alone = FsspecObjectStore(f"{gcs_root}/alone")
    single = run_sweep_task(config, spec, 0, 1, store=alone, run_point=_figures)
    assert single["ran"] == [0, 1, 2, 3, 4] and single["report"]
    shared = FsspecObjectStore(f"{gcs_root}/shared")
    done = [run_sweep_task(config, spec, k, 3, store=shared, run_point=_figures) for k in (2, 0, 1)]
    assert [d["ran"] for d in done] == [[2], [0, 3], [1, 4]]
    assert [d["report"] is not None for d in done] == [False, False, True]
    key = f"sweeps/{single['sweep_id']}/report.json"
    assert shared.get(key) == alone.get(key)
    again = run_sweep_task(config, spec, 1, 3, store=shared, run_point=_figures)
    assert again["ran"] == [] and again["report"] is not None  # the report is written once
    later = run_sweep_task(config, spec, 1, 3, execution="e2", store=shared, run_point=_figures)
    assert later["ran"] == [1, 4] and later["sweep_id"] != single["sweep_id"]  # a new run
    report = json.loads(shared.get(key))
    bets = [p["strategies"][0]["bets"] for p in report["points"]]
    assert bets == sorted(bets, reverse=True) and len(set(bets)) == 5


@given(points=st.integers(0, 60), count=st.integers(1, 9))
def test_every_point_is_run_by_exactly_one_task(points: int, count: int) -> None:
    shares = [share(points, index, count) for index in range(count)]
    flat = sorted(i for s in shares for i in s)
    assert flat == list(range(points))


def test_bad_grids_and_settings_are_one_line(tmp_path: Path) -> None:
    bad = {
        "{": "JSON",
        json.dumps({**GRID, "to": "2018-02-01"}): "before",
        json.dumps({**GRID, "grid": {"ev_threshold": [1.1]}}): "section.key",
        json.dumps({**GRID, "grid": {"themis.ev_threshold": [1.1, 1.1]}}): "twice",
        json.dumps({**GRID, "grid": {f"themis.k{i}": [1, 2] for i in range(11)}}): "more than",
        json.dumps({**GRID, "grid": {"themis.ev_threshold": []}}): "list of values",
    }
    for text, reason in bad.items():
        with pytest.raises(ConfigError, match=reason):
            load_grid(text, "grid.json")
    assert MAX_POINTS < 2**11
    config = load_config(None, tmp_path / "home")
    for point, reason in (
        ({"themis.ev_threshold": 0.5}, "ev_threshold"),
        ({"themis.no_such_key": 1}, "no_such_key"),
        ({"nowhere.key": 1}, "cannot set nowhere"),
        ({"storage.object_store_url": "/elsewhere"}, "cannot set storage"),
    ):
        with pytest.raises(ConfigError, match=reason):
            with_settings(config, point)
    changed = with_settings(config, {"themis.ev_threshold": 1.3, "themis.kelly_fraction": 0.1})
    assert (changed.themis.ev_threshold, changed.themis.kelly_fraction) == (1.3, 0.1)
    assert changed.themis.max_race_fraction == config.themis.max_race_fraction

    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({**GRID, "grid": {"themis.ev_threshold": [0.5]}}))
    done = keiba(tmp_path / "home", "backtest", "sweep", "--grid", str(grid))
    assert done.code != 0 and "ev_threshold" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    missing = keiba(tmp_path / "home", "backtest", "sweep", "--grid", str(tmp_path / "none"))
    assert missing.code != 0 and "cannot read the grid" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

"""The demo and the backtest's sample keep datasets of their own; the user's is never touched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from dataset_frames import with_truth
from keiba.app.replay import run_demo
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import KeibaError
from keiba.common.storage import LoadSource
from keiba.common.storage.datasets import dataset_names, open_dataset
from keiba.evaluator.main_job import (
    DEMO_DATASETS,
    SAMPLE_DATASET,
    load_sample_dataset,
)

CLOCK = FixedClock(dt.datetime(2026, 5, 1, 3, tzinfo=dt.UTC))


def _snapshot(config: KeibaConfig, name: str) -> dict[str, pl.DataFrame]:
    with open_dataset(config, name, must_exist=True) as w:
        return {
            t: w.query(f"SELECT * FROM {t} ORDER BY ALL")
            for t in ("races", "runners", "payouts", "dataset_info", "dataset_loads")
        }


def _same(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> bool:
    return a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)


@pytest.fixture
def mine(tiny_world, tmp_path: Path) -> KeibaConfig:
    """A home whose selected dataset `mine` holds two real races."""
    config = load_config(None, tmp_path, {"storage": {"dataset": "mine"}})
    with open_dataset(config) as w:
        w.load(tiny_world, LoadSource("real", "my races", CLOCK.now()))
    return config


@pytest.mark.slow
def test_the_demo_runs_in_its_own_dataset_and_leaves_the_selected_one_alone(
    mine: KeibaConfig, tiny_world
) -> None:
    before = _snapshot(mine, "mine")
    stale = mine.with_dataset(DEMO_DATASETS["simulated"])
    with open_dataset(stale) as w:  # another world from an earlier demo
        w.load(with_truth(tiny_world), LoadSource("simulated", "an older world", CLOCK.now()))
    config = load_config(
        None,
        mine.home,
        {
            "storage": {"dataset": "mine"},
            "logging": {"level": "warning"},
            "demo": {"source": "simulated", "years": 2, "seed": 11},
            "model": {"num_boost_round": 20},
        },
    )
    summary = run_demo(config, CLOCK)
    assert (summary.dataset, summary.dataset_kind) == ("demo-simulated", "simulated")
    assert _same(_snapshot(mine, "mine"), before)
    after = _snapshot(mine, "demo-simulated")
    assert set(after["races"]["dataset"]) == {"demo-simulated"}
    assert summary.races == after["races"].height > 3000
    assert "2020010506010101" not in after["races"]["race_id"].to_list()  # the older world left
    assert after["dataset_loads"]["source"].to_list() == ["simulated world sim-2015-2y-seed11"]
    assert dataset_names(mine) == ["demo-simulated", "mine"]


def test_the_demo_on_the_warehouse_uses_the_selected_dataset(tmp_path: Path) -> None:
    config = load_config(
        None, tmp_path, {"storage": {"dataset": "nothing-here"}, "demo": {"source": "warehouse"}}
    )
    with pytest.raises(KeibaError, match="no dataset 'nothing-here'"):
        run_demo(config, CLOCK)
    assert dataset_names(config) == []


def test_the_backtest_sample_loads_once_into_its_own_dataset(tiny_world, tmp_path) -> None:
    config = load_config(None, tmp_path, {"storage": {"dataset": "mine"}})
    with open_dataset(config) as w:  # the user's dataset is simulated: the sample must not go in
        w.load(with_truth(tiny_world), LoadSource("simulated", "a world", CLOCK.now()))
    before = _snapshot(config, "mine")
    selected = load_sample_dataset(config, CLOCK)
    assert selected.storage.dataset == SAMPLE_DATASET
    assert selected.duckdb_path == tmp_path / "warehouse" / "jra2018-sample.duckdb"
    again = load_sample_dataset(config, FixedClock(CLOCK.now() + dt.timedelta(days=1)))
    assert again.duckdb_path == selected.duckdb_path
    sample = _snapshot(config, SAMPLE_DATASET)
    assert sample["races"].height == 3454
    assert set(sample["races"]["dataset"]) == {SAMPLE_DATASET}
    assert sample["dataset_info"]["kind"].to_list() == ["real"]
    assert sample["dataset_loads"].select("source", "loaded_at").rows() == [
        ("jra2018 sample", CLOCK.now())
    ]  # the second load wrote nothing
    assert _same(_snapshot(config, "mine"), before)

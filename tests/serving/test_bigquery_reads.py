"""The server on a BigQuery dataset (the emulator): it is ready when the dataset exists, and
a dataset it cannot watch as a file is read again for every answer, never kept stale."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import polars as pl

from keiba.app.serving import ServingReads, readiness
from keiba.common.config import KeibaConfig, load_config
from keiba.common.storage import LoadSource
from keiba.common.storage.datasets import open_dataset

AT = dt.datetime(2026, 5, 1, 3, tzinfo=dt.UTC)
DAY = dt.date(2020, 1, 5)


def _config(home: Path, url: str) -> KeibaConfig:
    storage = {
        "warehouse": "bigquery",
        "bigquery_project": "keiba-test",
        "bigquery_endpoint": url,
        "bigquery_dataset_prefix": f"s{uuid.uuid4().hex[:10]}_",
        "dataset": "served",
    }
    return load_config(None, home, {"storage": storage})


def _one_race(world: dict[str, pl.DataFrame], race_id: str) -> dict[str, pl.DataFrame]:
    return {name: frame.filter(pl.col("race_id") == race_id) for name, frame in world.items()}


def test_the_races_of_a_bigquery_dataset_are_read_again_and_it_is_ready(
    tiny_world, tmp_path: Path, bq_emulator_url: str
) -> None:
    config = _config(tmp_path, bq_emulator_url)
    first, second = sorted(tiny_world["races"]["race_id"].to_list())
    assert readiness(config)["checks"]["dataset"] == "missing"
    with open_dataset(config) as warehouse:
        warehouse.load(_one_race(tiny_world, first), LoadSource("real", "first", AT))
    assert readiness(config)["checks"]["dataset"] == "ok"

    reads = ServingReads(config)
    assert [r["race_id"] for r in reads.races(DAY)] == [first]
    with open_dataset(config) as warehouse:
        warehouse.load(_one_race(tiny_world, second), LoadSource("real", "second", AT))
    assert [r["race_id"] for r in reads.races(DAY)] == [first, second]

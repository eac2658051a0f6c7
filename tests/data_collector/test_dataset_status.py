"""`keiba data status` as a library: every dataset with its kind and counts, and one in detail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dataset_frames import moved, with_truth
from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import KeibaError
from keiba.common.storage import LoadSource
from keiba.common.storage.datasets import open_dataset
from keiba.data_collector.status import dataset_details, datasets_status

AT = dt.datetime(2026, 5, 1, 3, tzinfo=dt.UTC)


@pytest.fixture
def config(tiny_world, tmp_path: Path) -> KeibaConfig:
    config = load_config(None, tmp_path, {"storage": {"dataset": "jra"}})
    with open_dataset(config, "jra") as w:
        w.load(tiny_world, LoadSource("real", "hand-made", AT))
    with open_dataset(config, "world") as w:
        w.load(with_truth(tiny_world), LoadSource("simulated", "world 1", AT))
        w.load(with_truth(moved(tiny_world, 4)), LoadSource("simulated", "world 2", AT))
    open_dataset(config, "empty").close()
    return config


def test_status_lists_every_dataset_with_its_kind_and_counts(config: KeibaConfig) -> None:
    rows = datasets_status(config)
    for row in rows:
        assert row.pop("bytes") > 0
    day = "2020-01-05"
    assert rows == [
        {"name": "empty", "kind": None, "races": 0, "runners": 0, "first_date": None,
         "last_date": None, "selected": False},
        {"name": "jra", "kind": "real", "races": 2, "runners": 8, "first_date": day,
         "last_date": day, "selected": True},
        {"name": "world", "kind": "simulated", "races": 4, "runners": 16, "first_date": day,
         "last_date": day, "selected": False},
    ]  # fmt: skip


def test_details_of_one_dataset_list_its_loads(config: KeibaConfig) -> None:
    details = dataset_details(config, "world")
    assert (details["name"], details["kind"], details["races"]) == ("world", "simulated", 4)
    assert details["created_at"] == AT.isoformat()
    assert [(x["source"], x["races"], x["true_probabilities"]) for x in details["loads"]] == [
        ("world 1", 2, 8),
        ("world 2", 2, 8),
    ]
    assert details["contents"]["totals"]["payouts"] == 8
    assert details["path"] == str(config.dataset_path("world"))
    assert dataset_details(config)["name"] == "jra"  # the selected one
    with pytest.raises(KeibaError, match=r"no dataset 'nope' .*\(datasets: empty, jra, world\)"):
        dataset_details(config, "nope")

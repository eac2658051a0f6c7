"""Datasets: one file each, races stamped with their dataset, real and simulated never mixed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dataset_frames import moved, with_truth
from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import KeibaError, StorageError
from keiba.common.schema import duckdb_ddl, table
from keiba.common.storage import DatasetKindError, DuckDBWarehouse, LoadSource
from keiba.common.storage.datasets import dataset_names, drop_dataset, open_dataset

AT = dt.datetime(2026, 5, 1, 3, tzinfo=dt.UTC)
TABLES = ("races", "runners", "payouts", "odds", "true_probabilities")


def _counts(w: DuckDBWarehouse) -> dict[str, int]:
    return {n: int(w.query(f"SELECT count(*) AS n FROM {n}")["n"][0]) for n in TABLES}


def _loads(w: DuckDBWarehouse) -> list[dict[str, object]]:
    return w.query("SELECT * FROM dataset_loads ORDER BY loaded_at").to_dicts()


@pytest.fixture
def config(tmp_path: Path) -> KeibaConfig:
    return load_config(None, tmp_path, {"storage": {"dataset": "mine"}})


def test_races_carry_their_dataset_and_the_first_load_sets_its_kind(tiny_world, tmp_path) -> None:
    with DuckDBWarehouse(tmp_path / "jra.duckdb") as w:
        assert w.dataset == "jra" and w.kind() is None
        w.load(tiny_world, LoadSource("real", "hand-made races", AT))
        assert w.kind() == "real"
        assert w.query("SELECT DISTINCT dataset FROM races")["dataset"].to_list() == ["jra"]
        info = w.query("SELECT * FROM dataset_info").to_dicts()
        assert info == [{"name": "jra", "kind": "real", "created_at": AT}]
        assert _loads(w) == [
            {"loaded_at": AT, "source": "hand-made races", "kind": "real", "races": 2,
             "runners": 8, "payouts": 4, "odds": 4, "true_probabilities": 0},
        ]  # fmt: skip
        w.load(tiny_world, LoadSource("real", "hand-made races", AT + dt.timedelta(days=1)))
        assert len(_loads(w)) == 1  # a load that writes nothing is not listed


@pytest.mark.parametrize("first", ["real", "simulated"])
def test_the_other_kind_is_refused_and_nothing_is_written(tiny_world, tmp_path, first) -> None:
    real, simulated = tiny_world, with_truth(moved(tiny_world, 4))
    frames = {"real": real, "simulated": simulated}
    second = "simulated" if first == "real" else "real"
    with DuckDBWarehouse(tmp_path / "one.duckdb") as w:
        w.load(frames[first], LoadSource(first, first, AT))  # type: ignore[arg-type]
        before, loads = _counts(w), _loads(w)
        message = f"the dataset 'one' holds {first} races and these are {second}"
        with pytest.raises(DatasetKindError, match=message):
            w.load(frames[second], LoadSource(second, second, AT))  # type: ignore[arg-type]
        assert _counts(w) == before and _loads(w) == loads and w.kind() == first


def test_an_unlabelled_load_with_true_probabilities_is_simulated(tiny_world) -> None:
    with DuckDBWarehouse(None) as w:
        w.load(tiny_world)
        assert w.kind() == "real"
        with pytest.raises(DatasetKindError, match="holds real races and these are simulated"):
            w.load(with_truth(moved(tiny_world, 4)))
        assert _counts(w)["races"] == 2
    with DuckDBWarehouse(None) as w, pytest.raises(StorageError, match="only in simulated"):
        w.load(with_truth(tiny_world), LoadSource("real", "mislabelled", AT))


def test_two_datasets_never_see_each_others_rows(tiny_world, config) -> None:
    renamed = tiny_world["races"].with_columns(pl.lit("シミュレーション").alias("race_name"))
    with open_dataset(config, "a") as a, open_dataset(config, "b") as b:
        a.load(tiny_world, LoadSource("real", "a", AT))
        b.load(with_truth({**tiny_world, "races": renamed}), LoadSource("simulated", "b", AT))
        b.load(with_truth(moved(tiny_world, 4)), LoadSource("simulated", "b2", AT))
        assert _counts(a) == {"races": 2, "runners": 8, "payouts": 4, "odds": 4,
                              "true_probabilities": 0}  # fmt: skip
        assert _counts(b)["races"] == 4 and _counts(b)["true_probabilities"] == 16
        names = a.query("SELECT DISTINCT race_name, dataset FROM races").rows()
        assert names == [("3歳未勝利", "a")]  # the same race keys in b did not touch a
        assert set(b.query("SELECT DISTINCT dataset FROM races")["dataset"]) == {"b"}
        assert (a.kind(), b.kind()) == ("real", "simulated")
    assert dataset_names(config) == ["a", "b"]


def test_drop_removes_exactly_one_dataset(tiny_world, config) -> None:
    for name in ("a", "b", "c"):
        with open_dataset(config, name) as w:
            w.load(tiny_world, LoadSource("real", name, AT))
    wal = config.dataset_path("b").with_suffix(".duckdb.wal")
    wal.write_bytes(b"")  # as DuckDB leaves it beside a file that was being written
    removed = drop_dataset(config, "b")
    assert removed == [config.dataset_path("b"), wal]
    assert not wal.exists() and dataset_names(config) == ["a", "c"]
    for name in ("a", "c"):
        with open_dataset(config, name, must_exist=True) as w:
            assert _counts(w)["races"] == 2
    with pytest.raises(KeibaError, match=r"no dataset 'b' .*\(datasets: a, c\)"):
        drop_dataset(config, "b")
    with pytest.raises(KeibaError, match="not a dataset name"):
        drop_dataset(config, "../a")
    with pytest.raises(KeibaError, match="no dataset 'b'"):
        open_dataset(config, "b", must_exist=True)
    assert dataset_names(config) == ["a", "c"]


def _legacy(path: Path, frames: dict[str, pl.DataFrame]) -> None:
    """A warehouse as written before datasets: no `dataset` column, no dataset tables."""
    con = duckdb.connect(str(path))
    for name, frame in frames.items():
        con.execute(duckdb_ddl(dataclasses.replace(table(name), stamped=())))
        con.register("f", frame.to_arrow())
        con.execute(f"INSERT INTO {name} SELECT * FROM f")
        con.unregister("f")
    con.close()


def test_a_warehouse_from_before_datasets_is_migrated(tiny_world, tmp_path) -> None:
    _legacy(tmp_path / "keiba.duckdb", {"races": tiny_world["races"]})
    with DuckDBWarehouse(tmp_path / "keiba.duckdb") as w:
        w.ensure_schema()
        assert set(w.query("SELECT dataset FROM races")["dataset"]) == {"keiba"}
        assert w.kind() == "real"
        w.load(tiny_world)  # loads as before
        assert _counts(w)["runners"] == 8


def test_a_warehouse_mixing_kinds_from_before_datasets_must_be_reimported(
    tiny_world, tmp_path
) -> None:
    simulated = with_truth(moved(tiny_world, 4))
    races = pl.concat([tiny_world["races"], simulated["races"]])
    _legacy(
        tmp_path / "keiba.duckdb",
        {"races": races, "true_probabilities": simulated["true_probabilities"]},
    )
    with (
        DuckDBWarehouse(tmp_path / "keiba.duckdb") as w,
        pytest.raises(StorageError, match=r"mixes real and simulated races.*dataset of its own"),
    ):
        w.ensure_schema()


def test_a_file_name_that_is_no_dataset_name_is_refused(tmp_path) -> None:
    with pytest.raises(StorageError, match="not a dataset name"):
        DuckDBWarehouse(tmp_path / "My Data.duckdb")


def test_a_bigquery_dataset_must_exist_to_be_opened_so(
    tiny_world, tmp_path: Path, bq_emulator_url: str
) -> None:
    prefix = f"d{uuid.uuid4().hex[:10]}_"
    config = load_config(
        None,
        tmp_path,
        {
            "storage": {
                "warehouse": "bigquery",
                "bigquery_project": "keiba-test",
                "bigquery_endpoint": bq_emulator_url,
                "bigquery_dataset_prefix": prefix,
            }
        },
    )
    with open_dataset(config, "a") as w:
        w.load(tiny_world, LoadSource("real", "a", AT))
    with open_dataset(config, "a", must_exist=True) as w:
        assert _counts(w)["races"] == 2
    with pytest.raises(KeibaError, match=r"no dataset 'b' in BigQuery .*\(datasets: a\)"):
        open_dataset(config, "b", must_exist=True)

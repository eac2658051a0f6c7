import datetime as dt

import polars as pl
import pytest

import bq_emulator
from keiba.common.clock import JST
from keiba.common.errors import StorageError
from keiba.common.schema import table
from keiba.common.storage import (
    DatasetKindError,
    DuckDBWarehouse,
    LoadSource,
    Warehouse,
)


def _counts(w: Warehouse) -> dict[str, int]:
    return {
        name: int(w.query(f"SELECT count(*) AS n FROM {name}")["n"][0])
        for name in ("races", "runners", "payouts", "odds")
    }


def test_load_is_idempotent(tiny_world: dict[str, pl.DataFrame], new_warehouse) -> None:
    with new_warehouse() as w:
        first = w.load(tiny_world)
        assert first.new["races"] == 2 and first.rows_written["runners"] == 8
        before = w.query("SELECT * FROM runners ORDER BY race_id, horse_no")
        second = w.load(tiny_world)
        assert second.unchanged == {"races": 2, "runners": 2, "payouts": 2, "odds": 1}
        assert not second.wrote_anything
        assert w.query("SELECT * FROM runners ORDER BY race_id, horse_no").equals(before)
        assert _counts(w) == {"races": 2, "runners": 8, "payouts": 4, "odds": 4}


def test_ingested_at_alone_does_not_count_as_a_change(tiny_world, new_warehouse) -> None:
    with new_warehouse() as w:
        w.load(tiny_world)
        later = tiny_world["races"].with_columns(
            pl.lit(dt.datetime(2030, 1, 1, tzinfo=dt.UTC)).alias("ingested_at")
        )
        assert w.load({"races": later}).unchanged["races"] == 2


def test_changed_race_is_replaced_whole(tiny_world, new_warehouse) -> None:
    with new_warehouse() as w:
        w.load(tiny_world)
        runners = tiny_world["runners"].filter(
            ~((pl.col("race_id") == "2020010506010101") & (pl.col("horse_no") == 4))
        )
        result = w.load({"runners": runners})
        assert result.changed["runners"] == 1 and result.unchanged["runners"] == 1
        assert _counts(w)["runners"] == 7


def test_odds_snapshots_are_scoped_by_time(tiny_world, new_warehouse) -> None:
    with new_warehouse() as w:
        w.load(tiny_world)
        later = tiny_world["odds"].with_columns(
            pl.col("as_of") + pl.duration(minutes=1), pl.lit("interim").alias("stage")
        )
        assert w.load({"odds": later}).new["odds"] == 1
        assert _counts(w)["odds"] == 8


def test_failed_load_leaves_nothing_behind(tiny_world, new_warehouse) -> None:
    with new_warehouse() as w:
        broken = tiny_world["payouts"].rename({"payout_yen": "payout"})
        with pytest.raises(StorageError, match="payouts"):
            w.load({"races": tiny_world["races"], "payouts": broken})
        assert _counts(w)["races"] == 0


def test_derived_tables_cannot_overwrite_the_contract(new_warehouse) -> None:
    with new_warehouse() as w:
        with pytest.raises(StorageError, match="contract table"):
            w.write_table("runners", pl.DataFrame({"a": [1]}))
        w.write_table("predictions", pl.DataFrame({"a": [1, 2]}))
        w.write_table("predictions", pl.DataFrame({"a": [3]}), replace=False)
        assert w.query("SELECT sum(a) AS s FROM predictions")["s"][0] == 6


def test_rows_of_a_derived_table_are_replaced_by_key(new_warehouse) -> None:
    with new_warehouse() as w:
        w.write_table(
            "predictions", pl.DataFrame({"race_id": ["a", "a", "b"], "p": [1.0, 2.0, 3.0]})
        )
        w.write_table(
            "predictions", pl.DataFrame({"race_id": ["a"], "p": [9.0]}), replace_by="race_id"
        )
        stored = w.query("SELECT race_id, p FROM predictions ORDER BY race_id, p")
        assert stored.rows() == [("a", 9.0), ("b", 3.0)]


def test_rows_of_a_derived_table_are_replaced_by_a_key_of_several_columns(
    new_warehouse,
) -> None:
    with new_warehouse() as w:
        w.write_table(
            "entries",
            pl.DataFrame({"race_id": ["a", "a", "b"], "v": [1, 2, 1], "n": [10, 20, 30]}),
        )
        w.write_table(
            "entries",
            pl.DataFrame({"race_id": ["a", "b", "b"], "v": [2, 2, 2], "n": [21, 40, 41]}),
            replace_by=("race_id", "v"),
        )
        stored = w.query("SELECT race_id, v, n FROM entries ORDER BY race_id, v, n")
        assert stored.rows() == [
            ("a", 1, 10),
            ("a", 2, 21),
            ("b", 1, 30),
            ("b", 2, 40),
            ("b", 2, 41),
        ]


def test_bigquery_lays_out_derived_tables_by_race_day(bq_emulator_url) -> None:
    from keiba.common.storage.bigquery import BigQueryWarehouse, bigquery_client

    client = bigquery_client(bq_emulator.PROJECT, endpoint=bq_emulator_url)
    with BigQueryWarehouse(client, dataset="layout", prefix="l_") as w:
        w.write_table(
            "features",
            pl.DataFrame(
                {"race_id": ["a"], "race_date": [dt.date(2020, 1, 5)], "feature_version": ["v2"]}
            ),
        )
        stored = bigquery_client(bq_emulator.PROJECT, endpoint=bq_emulator_url).get_table(
            f"{bq_emulator.PROJECT}.l_layout.features"
        )
    assert stored.time_partitioning.field == "race_date"
    assert stored.clustering_fields == ["feature_version", "race_id"]


def test_quarantine_keeps_one_row_per_key(new_warehouse) -> None:
    frame = pl.DataFrame(
        {
            "source": ["csv", "csv", "csv"],
            "locator": ["f:1", "f:1", "f:2"],
            "reason": ["bad", "bad", "bad"],
            "raw": ["x", "y", "z"],
            "seen_at": [dt.datetime(2020, 1, 1, tzinfo=dt.UTC)] * 3,
        }
    )
    with new_warehouse() as w:
        frame = frame.select(table("quarantine").column_names)
        assert w.add_quarantine(frame) == 2
        assert w.add_quarantine(frame) == 0
        assert w.query("SELECT locator FROM quarantine ORDER BY locator")["locator"].to_list() == [
            "f:1",
            "f:2",
        ]


def test_a_load_records_its_kind_and_source(tiny_world, new_warehouse) -> None:
    at = dt.datetime(2020, 1, 6, 9, tzinfo=JST)
    with new_warehouse() as w:
        assert w.kind() is None
        source = "C:\\races\\it's\n2018"  # any text: a path may hold quotes and backslashes
        w.load(tiny_world, LoadSource("real", source, at))
        assert w.kind() == "real"
        loads = w.query("SELECT loaded_at, source, kind FROM dataset_loads")
        assert loads.rows() == [(at, source, "real")]
        with pytest.raises(DatasetKindError, match="holds real races and these are simulated"):
            w.load(tiny_world, LoadSource("simulated", "a world", at))


def test_queries_in_the_one_dialect_take_parameters(tiny_world, new_warehouse) -> None:
    sql = (
        "SELECT r.race_id, count(*) AS n, max(u.win_odds_final) AS top "
        "FROM races r JOIN runners u USING (race_id) "
        "WHERE r.race_date = ? AND u.status = ? AND u.horse_no >= ? "
        "GROUP BY r.race_id ORDER BY r.race_id"
    )
    with new_warehouse() as w:
        w.load(tiny_world)
        found = w.query(sql, [dt.date(2020, 1, 5), "finished", 2])
        assert found.rows() == [("2020010506010101", 3, 12.0), ("2020010506010102", 2, 5.0)]


def test_deterministic_query_restores_the_thread_setting() -> None:
    with DuckDBWarehouse(None) as w:
        w.query("SET threads = 3")
        inside = w.query("SELECT current_setting('threads') AS t", deterministic=True)
        assert int(inside["t"][0]) == 1
        assert int(w.query("SELECT current_setting('threads') AS t")["t"][0]) == 3


def _next_day(world: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The same races a day later (race ids begin with their date)."""
    shifted = {
        name: frame.with_columns(pl.col("race_id").str.replace("^20200105", "20200106"))
        for name, frame in world.items()
    }
    races = shifted["races"].with_columns(pl.col("race_date") + pl.duration(days=1))
    return {**shifted, "races": races}


def test_forget_from_keeps_only_the_races_before_the_day(tiny_world, tmp_path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as w:
        w.load(tiny_world)
        w.load(_next_day(tiny_world))
        before = sorted(tiny_world["races"]["race_id"])
        ids = sorted(w.query("SELECT race_id FROM races")["race_id"])
        assert len(ids) == 4
        w.write_table("cache", pl.DataFrame({"x": [1]}))
        w.write_table("features_like", pl.DataFrame({"race_id": ids, "v": [1.0] * 4}))
        deleted = w.forget_from(dt.date(2020, 1, 6), drop=("cache",))
        assert sorted(w.query("SELECT race_id FROM races")["race_id"]) == before
        assert sorted(w.query("SELECT DISTINCT race_id FROM runners")["race_id"]) == before
        assert sorted(w.query("SELECT DISTINCT race_id FROM odds")["race_id"]) == before[:1]
        assert sorted(w.query("SELECT race_id FROM features_like")["race_id"]) == before
        assert not w.has_table("cache")
        assert _counts(w) == {"races": 2, "runners": 8, "payouts": 4, "odds": 4}
        assert deleted >= 2 + 8 + 4 + 4 + 2
        reloaded = w.load(_next_day(tiny_world))  # the load's own bookkeeping forgot them too
        assert reloaded.new["races"] == 2 and reloaded.rows_written["runners"] == 8


def test_bigquery_gives_a_table_from_before_the_knowable_probabilities_the_column(
    bq_emulator_url,
) -> None:
    from google.cloud import bigquery

    from keiba.common.storage.bigquery import BigQueryWarehouse, bigquery_client

    client = bigquery_client(bq_emulator.PROJECT, endpoint=bq_emulator_url)
    dataset = f"{bq_emulator.PROJECT}.l_older"
    client.create_dataset(dataset, exists_ok=True)
    old = [
        bigquery.SchemaField("race_id", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("horse_no", "INT64", mode="REQUIRED"),
        bigquery.SchemaField("p_true", "FLOAT64", mode="REQUIRED"),
    ]
    client.create_table(bigquery.Table(f"{dataset}.true_probabilities", schema=old))
    with BigQueryWarehouse(client, dataset="older", prefix="l_") as w:
        w.ensure_schema()
    stored = client.get_table(f"{dataset}.true_probabilities")
    assert [f.name for f in stored.schema] == ["race_id", "horse_no", "p_true", "p_knowable"]
    assert stored.schema[-1].mode == "NULLABLE"


def test_duckdb_draws_no_progress_bar_on_stdout(tmp_path) -> None:
    """A long query would otherwise draw DuckDB's bar on stdout, before a command's JSON."""
    with DuckDBWarehouse(tmp_path / "w.duckdb") as w:
        shown = w.query("SELECT current_setting('enable_progress_bar') AS shown")["shown"][0]
    assert shown is False

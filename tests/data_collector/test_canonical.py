from pathlib import Path

import polars as pl
import pytest

from keiba.common.errors import ImportValidationError
from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.canonical import import_canonical, read_canonical, write_canonical


@pytest.fixture(params=["csv", "parquet"])
def world_dir(request, tiny_world, tmp_path) -> Path:
    write_canonical(tiny_world, tmp_path / "world", request.param)
    return tmp_path / "world"


def _rewrite_csv(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_round_trip_preserves_every_value(world_dir, tiny_world) -> None:
    frames = read_canonical(world_dir)
    for name, frame in tiny_world.items():
        assert frames[name].equals(frame), name


def test_import_twice_changes_nothing(world_dir, tmp_path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as w:
        first = import_canonical(w, world_dir)
        snapshot = w.query("SELECT * FROM runners ORDER BY race_id, horse_no")
        second = import_canonical(w, world_dir)
        assert first.new["races"] == 2
        assert not second.wrote_anything
        assert w.query("SELECT * FROM runners ORDER BY race_id, horse_no").equals(snapshot)


@pytest.mark.parametrize(
    ("file", "old", "new", "line", "column", "reason"),
    [
        ("runners.csv", ",finished,1,", ",finished,x,", 2, "finish_pos", "not a whole number"),
        ("runners.csv", ",finished,1,", ",finish,1,", 2, "status", "not one of"),
        ("runners.csv", ",2.0,", ",0.9,", 2, "win_odds_final", "must be above 1"),
        ("payouts.csv", ",1-2,", ",2-1,", 3, "combination", "not canonical"),
        ("payouts.csv", ",350,", ",90,", 3, "payout_yen", "at least 100"),
        ("races.csv", "2020-01-05,6,", "2020-01-32,6,", 2, "race_date", "not a date"),
        ("races.csv", ",dirt,", ",sand,", 2, "surface", "not one of"),
        ("odds.csv", "2020-01-05T01:04:00+00:00", "2020-01-05T01:04:00", 2, "as_of", "UTC offset"),
    ],
)
def test_a_bad_value_names_file_line_column_and_reason(
    tiny_world, tmp_path, file, old, new, line, column, reason
) -> None:
    directory = tmp_path / "world"
    write_canonical(tiny_world, directory, "csv")
    _rewrite_csv(directory / file, old, new)
    with pytest.raises(ImportValidationError) as caught:
        read_canonical(directory)
    error = caught.value
    assert error.path.endswith(file)
    assert (error.line, error.column) == (line, column)
    assert reason in error.reason


def test_nothing_is_written_when_any_file_is_bad(tiny_world, tmp_path) -> None:
    directory = tmp_path / "world"
    write_canonical(tiny_world, directory, "csv")
    _rewrite_csv(directory / "payouts.csv", ",350,", ",abc,")
    with DuckDBWarehouse(tmp_path / "w.duckdb") as w:
        with pytest.raises(ImportValidationError, match="payout_yen"):
            import_canonical(w, directory)
        assert w.query("SELECT count(*) AS n FROM races")["n"][0] == 0


def test_missing_and_extra_columns_are_named(tiny_world, tmp_path) -> None:
    directory = tmp_path / "world"
    write_canonical({"races": tiny_world["races"].drop("going")}, directory, "csv")
    with pytest.raises(ImportValidationError, match="'going': missing column"):
        read_canonical(directory)
    write_canonical(
        {"races": tiny_world["races"].with_columns(pl.lit(1).alias("x"))}, directory, "csv"
    )
    with pytest.raises(ImportValidationError, match="'x': unexpected column"):
        read_canonical(directory)


def test_duplicate_key_is_reported_on_the_second_line(tiny_world, tmp_path) -> None:
    directory = tmp_path / "world"
    runners = pl.concat([tiny_world["runners"], tiny_world["runners"].head(1)])
    write_canonical({"races": tiny_world["races"], "runners": runners}, directory, "csv")
    with pytest.raises(ImportValidationError, match="duplicate key") as caught:
        read_canonical(directory)
    assert caught.value.line == 10


def test_runner_of_unknown_race_is_refused(tiny_world, tmp_path) -> None:
    directory = tmp_path / "world"
    races = tiny_world["races"].head(1)
    write_canonical({"races": races, "runners": tiny_world["runners"]}, directory, "csv")
    with pytest.raises(ImportValidationError, match="neither in the races file nor the warehouse"):
        read_canonical(directory)


def test_race_id_must_agree_with_its_columns(tiny_world, tmp_path) -> None:
    directory = tmp_path / "world"
    races = tiny_world["races"].with_columns(pl.lit(5).cast(pl.Int64).alias("race_no"))
    write_canonical({"races": races}, directory, "csv")
    with pytest.raises(ImportValidationError, match="does not agree with race_date"):
        read_canonical(directory)


def test_impossible_race_key_is_refused(tiny_world, tmp_path) -> None:
    directory = tmp_path / "world"
    write_canonical({"races": tiny_world["races"]}, directory, "csv")
    _rewrite_csv(directory / "races.csv", "2020010506010101,", "2020010506000101,")
    with pytest.raises(ImportValidationError, match="meeting"):
        read_canonical(directory)


def test_a_directory_without_races_is_refused(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportValidationError, match="races file is required"):
        read_canonical(tmp_path / "empty")

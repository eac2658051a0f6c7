"""Cards are written race by race: a writer replaces only the rows of the races it brings, so
another process writing other races' cards at the same moment loses nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.netkeiba_ingest import ENTRIES_COLUMNS, _write_entries

AT = dt.datetime(2026, 6, 28, 1, 0, tzinfo=dt.UTC)


def _card(race: str, as_of: dt.datetime, horses: int) -> pl.DataFrame:
    rows: list[dict[str, Any]] = [
        {
            "race_id": race,
            "netkeiba_race_id": race[:4] + race[8:],
            "race_date": dt.date(2026, 6, 28),
            "venue_code": 5,
            "race_no": int(race[-2:]),
            "post_time": AT + dt.timedelta(hours=1),
            "surface": "turf",
            "distance_m": 1600,
            "field_size": horses,
            "horse_no": h,
            "frame_no": h,
            "horse_name": f"馬{h}",
            "status": "declared",
            "source": "test",
            "as_of": as_of,
        }
        for h in range(1, horses + 1)
    ]
    return (
        pl.DataFrame(rows)
        .with_columns(pl.lit(None).alias(c) for c in ENTRIES_COLUMNS if c not in rows[0])
        .select(list(ENTRIES_COLUMNS))
        .cast(ENTRIES_COLUMNS)
    )  # type: ignore[arg-type]


class _Interleaved(DuckDBWarehouse):
    """A warehouse where another writer stores a card right after this one read the table."""

    other: pl.DataFrame | None = None

    def query(self, sql: str, params: Any = None, **kw: Any) -> pl.DataFrame:
        answer = super().query(sql, params, **kw)
        if self.other is not None and "FROM entries" in sql and "LIMIT 0" not in sql:
            other, self.other = self.other, None
            _write_entries(self, other)
        return answer


def test_a_card_written_meanwhile_for_another_race_is_kept(tmp_path: Path) -> None:
    a, b = "2026062805030101", "2026062805030102"
    with _Interleaved(tmp_path / "w.duckdb") as warehouse:
        _write_entries(warehouse, pl.concat([_card(a, AT, 8), _card(b, AT, 8)]))
        warehouse.other = _card(b, AT + dt.timedelta(minutes=5), 7)  # a scratch in race b
        _write_entries(warehouse, _card(a, AT + dt.timedelta(minutes=5), 8))
        stored = warehouse.query(
            "SELECT race_id, as_of, count(*) AS n FROM entries GROUP BY ALL ORDER BY ALL"
        )
    versions = {(r, t.astimezone(dt.UTC), n) for r, t, n in stored.iter_rows()}
    assert (b, AT + dt.timedelta(minutes=5), 7) in versions
    assert (b, AT, 8) in versions
    assert (a, AT, 8) in versions  # the same card again is no new version


def test_a_version_of_the_same_race_written_meanwhile_is_kept(tmp_path: Path) -> None:
    a = "2026062805030101"
    with _Interleaved(tmp_path / "w.duckdb") as warehouse:
        _write_entries(warehouse, _card(a, AT, 8))
        warehouse.other = _card(a, AT + dt.timedelta(minutes=5), 7)  # a scratch, seen by another
        _write_entries(warehouse, _card(a, AT + dt.timedelta(minutes=6), 6))
        stored = warehouse.query(
            "SELECT race_id, as_of, count(*) AS n FROM entries GROUP BY ALL ORDER BY ALL"
        )
    versions = [(t.astimezone(dt.UTC), n) for _, t, n in stored.iter_rows()]
    assert versions == [
        (AT, 8),
        (AT + dt.timedelta(minutes=5), 7),
        (AT + dt.timedelta(minutes=6), 6),
    ]


def test_a_version_equal_to_the_one_before_is_not_stored_and_a_refetch_replaces(
    tmp_path: Path,
) -> None:
    a = "2026062805030101"
    later = AT + dt.timedelta(minutes=5)
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        _write_entries(warehouse, pl.concat([_card(a, AT, 8), _card(a, later, 7)]))
        _write_entries(warehouse, _card(a, AT + dt.timedelta(minutes=9), 7))  # no change
        _write_entries(warehouse, _card(a, later, 6))  # the same instant, fetched again
        stored = warehouse.query(
            "SELECT as_of, count(*) AS n FROM entries GROUP BY ALL ORDER BY ALL"
        )
    assert [(t.astimezone(dt.UTC), n) for t, n in stored.iter_rows()] == [(AT, 8), (later, 6)]


def test_a_table_without_todays_columns_is_written_again_whole(tmp_path: Path) -> None:
    a = "2026062805030101"
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        older = _card(a, AT, 8).drop("body_weight_kg", "body_weight_diff_kg")
        warehouse.write_table("entries", older)
        _write_entries(warehouse, _card(a, AT + dt.timedelta(minutes=5), 7))
        stored = warehouse.query("SELECT * FROM entries ORDER BY as_of, horse_no")
    assert stored.columns == list(ENTRIES_COLUMNS)
    assert stored.height == 15

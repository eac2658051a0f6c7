from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from keiba.common.clock import FixedClock
from keiba.common.errors import StorageError
from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.quarantine import QuarantineRecord, quarantine, quarantine_frame

JST = dt.timezone(dt.timedelta(hours=9))
RECORDS = [
    QuarantineRecord("jra2018-csv", "results/a.csv:3", "win_odds_final: 0 must be above 1", "x,y"),
    QuarantineRecord("jra2018-csv", "results/a.csv:4", "withheld with race 1", None),
]


def test_records_are_stored_with_the_clock_time_in_utc() -> None:
    clock = FixedClock(dt.datetime(2024, 5, 1, 21, 0, tzinfo=JST))
    with DuckDBWarehouse(None) as w:
        assert quarantine(w, RECORDS, clock) == 2
        stored = w.query("SELECT * FROM quarantine ORDER BY locator")
    assert stored["locator"].to_list() == ["results/a.csv:3", "results/a.csv:4"]
    assert stored["raw"].to_list() == ["x,y", None]
    assert stored["seen_at"].to_list() == [dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)] * 2


def test_the_same_record_twice_is_kept_once() -> None:
    clock = FixedClock(dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    with DuckDBWarehouse(None) as w:
        quarantine(w, RECORDS, clock)
        clock.advance(dt.timedelta(days=1))
        again = [*RECORDS, RECORDS[0]]
        assert quarantine(w, again, clock) == 0
        other_reason = QuarantineRecord("jra2018-csv", "results/a.csv:3", "another reason", "x")
        assert quarantine(w, [other_reason], clock) == 1
        stored = w.query("SELECT seen_at FROM quarantine WHERE reason <> 'another reason'")
    assert stored["seen_at"].to_list() == [dt.datetime(2024, 5, 1, tzinfo=dt.UTC)] * 2


def test_nothing_to_quarantine_writes_nothing() -> None:
    with DuckDBWarehouse(None) as w:
        assert quarantine(w, [], FixedClock(dt.datetime(2024, 5, 1, tzinfo=dt.UTC))) == 0


def test_a_record_needs_source_locator_and_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        QuarantineRecord("jra2018-csv", "a.csv:1", "", "raw")


def test_a_naive_clock_is_refused() -> None:
    class Naive:
        def now(self) -> dt.datetime:
            return dt.datetime(2024, 5, 1)

    with DuckDBWarehouse(None) as w, pytest.raises(ValueError, match="timezone-aware"):
        quarantine(w, RECORDS, Naive())


def test_the_warehouse_refuses_a_frame_of_the_wrong_shape() -> None:
    frame = quarantine_frame(RECORDS, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    with DuckDBWarehouse(None) as w, pytest.raises(StorageError, match="columns"):
        w.add_quarantine(frame.drop("raw"))
    assert frame.schema["seen_at"] == pl.Datetime("us", "UTC")

"""The collector against a loopback server: fixtures, failures, stalls, blocks, garbage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from netkeiba_fixtures import DAY, RACE, serve

from keiba.common.clock import FixedClock
from keiba.common.config import CollectorConfig
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
from keiba.data_collector.collector import collect, reparse
from keiba.data_collector.http_client import BlockedError, FetchFailedError, HttpClient
from keiba.data_collector.raw_pages import read_index
from keiba.data_collector.status import data_status

DATE = dt.date(2026, 6, 28)


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse(None) as w:
        yield w


class FakeTime:
    """A clock whose sleep advances it: rate limits and backoff cost no real time."""

    def __init__(self) -> None:
        self.clock = FixedClock(dt.datetime(2026, 6, 28, 12, 0, tzinfo=dt.UTC))
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.clock.advance(dt.timedelta(seconds=seconds))


def config(base: str, **kw: object) -> CollectorConfig:
    return CollectorConfig.model_validate(
        {"race_base_url": base, "db_base_url": base, "read_timeout_s": 2.0, **kw}
    )


def run(base: str, tmp: Path, warehouse: DuckDBWarehouse, **kw: object):  # type: ignore[no-untyped-def]
    time = FakeTime()
    store = FsspecObjectStore(str(tmp / "objects"))
    with HttpClient(config(base, **kw), time.clock, time.sleep) as client:
        report = collect(warehouse, store, client, time.clock, DATE)
    return report, store, time


def test_collects_the_day_and_reparse_rebuilds_it(
    tmp_path: Path, warehouse: DuckDBWarehouse
) -> None:
    with serve() as (base, seen):
        report, store, time = run(base, tmp_path, warehouse)
    assert report.races_listed == 36 and report.stopped is None and not report.failed
    assert report.requests == 1 + 36 * 3 and len(report.not_found) == 36 * 3 - 3
    assert seen[0] == f"/top/race_list_sub.html?kaisai_date={DAY}"
    assert time.sleeps and set(time.sleeps) == {1.0}  # one request a second, on the fake clock
    ingest = report.ingest
    assert (ingest.races, ingest.runners, ingest.cards, ingest.entries) == (1, 10, 1, 10)
    assert (ingest.odds_snapshots, ingest.odds_rows, ingest.quarantined) == (1, 32, 0)
    odds = warehouse.query("SELECT DISTINCT race_id, stage, as_of FROM odds").to_dicts()
    assert odds == [
        {"race_id": "2026062803020211", "stage": "final",
         "as_of": dt.datetime(2026, 6, 28, 6, 52, 30, tzinfo=dt.UTC)},
    ]  # fmt: skip
    kinds = sorted(p.kind.value for p in read_index(store))
    assert kinds == ["card", "odds_api", "race_list", "result"]
    assert all(p.content_key.startswith("raw-data/netkeiba/") for p in read_index(store))
    before = data_status(warehouse)
    with DuckDBWarehouse(None) as fresh:  # from the stored pages alone, no server
        rebuilt = reparse(fresh, store, time.clock)
        assert data_status(fresh)["races"] == before["races"]
        again = reparse(fresh, store, time.clock)
    assert (rebuilt.races, rebuilt.odds_snapshots, rebuilt.entries) == (1, 1, 10)
    assert again.loaded["rows_written"] == {"races": 0, "runners": 0, "payouts": 0, "odds": 0}
    assert {p.dataset for p in read_index(store)} == {warehouse.dataset}
    with DuckDBWarehouse(tmp_path / "other.duckdb") as other:  # another dataset's pages stay out
        assert reparse(other, store, time.clock).races == 0
        assert other.query("SELECT count(*) AS n FROM races")["n"][0] == 0


def test_retries_5xx_with_backoff_then_succeeds(tmp_path: Path, warehouse: DuckDBWarehouse) -> None:
    def flaky(path: str, count: int) -> tuple[int, bytes, float] | None:
        return (503, b"busy", 0.0) if path.startswith("/race/result") and count <= 2 else None

    with serve(behaviour=flaky) as (base, seen):
        report, _, time = run(base, tmp_path, warehouse, backoff_initial_s=2.0)
    assert seen.count(f"/race/result.html?race_id={RACE}") == 3
    assert 2.0 in time.sleeps and 4.0 in time.sleeps
    assert report.ingest.races == 1 and not report.failed


def test_stalling_server_times_out_and_is_reported(
    tmp_path: Path, warehouse: DuckDBWarehouse
) -> None:
    def stall(path: str, count: int) -> tuple[int, bytes, float] | None:
        return (200, b"late", 1.0) if path == f"/race/result.html?race_id={RACE}" else None

    with serve(behaviour=stall) as (base, _):
        report, _, _ = run(base, tmp_path, warehouse, read_timeout_s=0.2, max_retries=1)
    assert len(report.failed) == 1 and "timed out" in report.failed[0]
    assert not report.ok and report.ingest.cards == 1  # the rest still loads


def test_a_site_that_keeps_failing_stops_the_run(
    tmp_path: Path, warehouse: DuckDBWarehouse
) -> None:
    def down(path: str, count: int) -> tuple[int, bytes, float] | None:
        return None if path.startswith("/top/") else (502, b"bad gateway", 0.0)

    with serve(behaviour=down) as (base, seen):
        report, _, _ = run(base, tmp_path, warehouse, max_retries=1)
    assert report.stopped is not None and "5 pages in a row failed" in report.stopped
    assert len(report.failed) == 5 and len(seen) == 1 + 5 * 2


@pytest.mark.parametrize("status", [403, 429])
def test_blocked_stops_at_once_and_says_so(
    tmp_path: Path, warehouse: DuckDBWarehouse, status: int
) -> None:
    def block(path: str, count: int) -> tuple[int, bytes, float] | None:
        return (status, b"go away", 0.0) if path.startswith("/race/shutuba") else None

    with serve(behaviour=block) as (base, seen):
        report, store, _ = run(base, tmp_path, warehouse)
    assert report.stopped is not None and f"HTTP {status}" in report.stopped
    assert "blocked" in report.stopped
    assert len(seen) == 2  # the list, then the first card: nothing after the block
    assert [p.kind.value for p in read_index(store)] == ["race_list"]


def test_garbage_is_stored_quarantined_and_the_rest_loads(
    tmp_path: Path, warehouse: DuckDBWarehouse
) -> None:
    def garbage(path: str, count: int) -> tuple[int, bytes, float] | None:
        if path.startswith("/race/result"):
            return 200, bytes(range(256)) * 40, 0.0
        if path.startswith("/api/"):
            return 200, b'{"status": "result", "data": {"odds": [1, 2]}}', 0.0
        return None

    with serve(behaviour=garbage) as (base, _):
        report, _, _ = run(base, tmp_path, warehouse)
    quarantined = warehouse.query("SELECT source, locator, reason, raw FROM quarantine")
    assert report.ingest.quarantined == quarantined.height >= 2
    assert set(quarantined["source"]) == {"netkeiba"}
    assert any("result.html" in loc for loc in quarantined["locator"])
    assert all(raw.startswith("[raw-data/netkeiba/") for raw in quarantined["raw"])
    assert report.ingest.races == 0 and report.ingest.cards == 1 and not report.ok


def test_rate_limit_and_backoff_use_the_injected_clock() -> None:
    answers = iter([500, 500, 200, 403])
    transport = httpx.MockTransport(lambda request: httpx.Response(next(answers), text="ok"))
    time = FakeTime()
    cfg = config("http://test", backoff_initial_s=1.5, backoff_max_s=2.0)
    with HttpClient(cfg, time.clock, time.sleep, transport=transport) as client:
        assert client.get("http://test/a").content == b"ok"
        with pytest.raises(BlockedError, match="HTTP 403"):
            client.get("http://test/b")
    assert client.requests == 4
    assert time.sleeps == [1.5, 2.0, 1.0]  # backoff 1.5, then 3.0 capped at 2.0; then 1 s spacing
    no_answer = httpx.MockTransport(lambda request: httpx.Response(404))
    with (
        HttpClient(cfg, time.clock, time.sleep, transport=no_answer) as client,
        pytest.raises(FetchFailedError) as caught,
    ):
        client.get("http://test/missing")
    assert caught.value.status == 404 and client.requests == 1  # not retried


def test_a_card_fetched_again_unchanged_adds_no_version(
    tmp_path: Path, warehouse: DuckDBWarehouse
) -> None:
    with serve() as (base, _):
        _, store, time = run(base, tmp_path, warehouse)
        first = warehouse.query("SELECT * FROM entries ORDER BY horse_no")
        time.clock.advance(dt.timedelta(minutes=5))
        with HttpClient(config(base), time.clock, time.sleep) as client:
            again = collect(warehouse, store, client, time.clock, DATE)
    assert again.ingest.cards == 1  # the same card, fetched five minutes later
    assert warehouse.query("SELECT * FROM entries ORDER BY horse_no").equals(first)
    assert first.height == 10 and first["race_class"].null_count() == 0

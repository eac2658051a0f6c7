"""The netkeiba twin: its pages parse to the world's day, it plays the day in time, it fails
on demand; and keiba's collector, run against it, loads exactly the world's day."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import lxml.html
import numpy as np
import polars as pl
import pytest

from keiba.common.clock import JST, FixedClock
from keiba.common.config import CollectorConfig
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
from keiba.data_collector.collector import CollectReport, collect
from keiba.data_collector.http_client import HttpClient
from keiba.data_collector.netkeiba_cards import parse_card, parse_race_list
from keiba.data_collector.netkeiba_odds import parse_odds_api
from keiba.data_collector.netkeiba_results import parse_race_result
from keiba.simulator import SimulatedWorld, WorldConfig, generate_world
from keiba.simulator.netkeiba_twin import NetkeibaTwin, TwinFaults, serve_twin
from keiba.simulator.netkeiba_twin_day import TwinDay, TwinRace, TwinSchedule, busiest_day
from keiba.simulator.netkeiba_twin_odds import odds_answer
from keiba.simulator.netkeiba_twin_pages import (
    CardState,
    render_card,
    render_odds,
    render_race_list,
    render_result,
)

SCHEDULE = TwinSchedule()
_CARD = ["horse_no", "frame_no", "horse_id", "horse_name", "sex", "age", "jockey_id"]
_CARD += ["jockey_name", "trainer_id", "trainer_name", "weight_carried_kg"]


@dataclass(frozen=True)
class Day:
    world: SimulatedWorld
    twin: TwinDay

    def frame(self, name: str) -> pl.DataFrame:
        ids = [r.race_id for r in self.twin.races]
        return getattr(self.world, name).filter(pl.col("race_id").is_in(ids))


@pytest.fixture(scope="module")
def day() -> Day:
    world = generate_world(WorldConfig(seed=3, max_race_days=6))
    return Day(world, TwinDay.from_world(world, busiest_day(world)))


def jst(d: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(hour, minute), JST)


# --- the pages, parsed by keiba's own parsers ---------------------------------------------


def test_the_day_has_three_racecourses_and_withdrawn_runners(day: Day) -> None:
    assert len({r.key.venue for r in day.twin.races}) == 3 and len(day.twin.races) == 36
    assert any(r.withdrawn() for r in day.twin.races)  # the card tests below see 取消 / 除外


def test_the_race_list_names_every_race_and_its_post_time(day: Day) -> None:
    page = render_race_list(day.twin, {})
    listed = parse_race_list(page, "list", day.twin.date)
    assert [str(r) for r in listed.race_ids] == sorted(day.frame("races")["netkeiba_race_id"])
    times = [
        t.strip()
        for t in lxml.html.fromstring(page).xpath('//*[@class="RaceList_Itemtime"]/text()')
    ]
    expected = day.frame("races").sort("netkeiba_race_id")["post_time"]
    assert times == [f"{t.astimezone(JST):%H:%M}" for t in expected]


def test_each_card_parses_to_the_world_runners(day: Day) -> None:
    runners = day.frame("runners")
    for race in day.twin.races:
        card = parse_card(render_card(race, CardState(True, True)), "card", race.key)
        world = runners.filter(pl.col("race_id") == race.race_id).sort("horse_no")
        parsed = pl.DataFrame(
            [{c: getattr(r, c) for c in [*_CARD, "body_weight_kg", "status"]} for r in card.runners]
        )
        expected = world.select(
            *_CARD,
            "body_weight_kg",
            pl.when(pl.col("status").is_in(["scratched", "excluded"]))
            .then(pl.col("status"))
            .otherwise(pl.lit("declared"))
            .alias("status"),
        )
        assert parsed.equals(expected.cast(parsed.schema)), race.netkeiba_id
        h = card.header
        assert (h.race_id, h.race_name, h.race_class, h.distance_m, h.going, h.post_time) == (
            race.race_id, race.race["race_name"], race.race["race_class"],
            race.race["distance_m"], race.race["going"], race.post_time,
        )  # fmt: skip


def test_a_card_before_the_morning_shows_no_weights_and_no_withdrawals(day: Day) -> None:
    race = next(r for r in day.twin.races if r.withdrawn())
    card = parse_card(render_card(race, CardState(False, False)), "card", race.key)
    assert {r.status for r in card.runners} == {"declared"}
    assert all(r.body_weight_kg is None and r.body_weight_diff_kg is None for r in card.runners)


def test_each_result_page_parses_to_the_world_race(day: Day) -> None:
    runners, payouts = day.frame("runners"), day.frame("payouts")
    for race in day.twin.races:
        parsed = parse_race_result(render_result(race), "result", race.key)
        world = runners.filter(pl.col("race_id") == race.race_id).drop("race_id").sort("horse_no")
        got = pl.DataFrame([{c: getattr(r, c) for c in world.columns} for r in parsed.runners])
        assert got.sort("horse_no").equals(world.cast(got.schema)), race.netkeiba_id
        paid = {
            (p.bet_type.value, p.combination, p.payout_yen, p.popularity) for p in parsed.payouts
        }
        expected = payouts.filter(pl.col("race_id") == race.race_id).drop("race_id")
        assert paid == set(expected.iter_rows()) and len(parsed.payouts) == expected.height
        assert parsed.header.weather == race.race["weather"]


def _parsed_odds(
    race: TwinRace, d: dt.date, at: dt.datetime
) -> tuple[str, dt.datetime, dict[tuple[str, str], tuple[float, float | None]]]:
    answer = odds_answer(race, d, SCHEDULE, at)
    snap = parse_odds_api(render_odds(answer, answer.stamp), "odds", race.key, d)
    return (
        snap.stage,
        snap.as_of,
        {(q.bet_type.value, q.combination): (q.odds, q.odds_high) for q in snap.quotes},
    )


def test_the_odds_are_forecast_then_interim_then_the_world_final(day: Day) -> None:
    d = day.twin.date
    final_rows = day.frame("odds").drop("pool_yen")
    for race in day.twin.races:
        stage, as_of, quotes = _parsed_odds(race, d, jst(d, 8, 30))
        assert (stage, as_of) == ("forecast", jst(d, 8, 0))  # refreshed when the scratches came
        assert {k for k, _ in quotes} == {"win"} and len(quotes) == len(race.win)
        stage, as_of, quotes = _parsed_odds(race, d, race.post_time)
        world = final_rows.filter(pl.col("race_id") == race.race_id)
        assert (stage, as_of) == ("final", race.final_as_of)
        assert quotes == {
            (b, c): (o, hi)
            for b, c, o, hi in world.select(
                "bet_type", "combination", "odds", "odds_high"
            ).iter_rows()
        }
        closing = _parsed_odds(race, d, race.closes_at(SCHEDULE) + dt.timedelta(seconds=30))
        assert closing[:2] == ("interim", race.closes_at(SCHEDULE))
        assert closing[2] == quotes  # the last interim odds are the final ones


def test_withdrawn_runners_leave_the_odds_at_the_scratch_time(day: Day) -> None:
    race = next(r for r in day.twin.races if r.withdrawn())
    d = day.twin.date
    before = _parsed_odds(race, d, jst(d, 7, 59))[2]
    after = _parsed_odds(race, d, jst(d, 8, 0))[2]
    withdrawn = {("win", str(n)) for n in race.withdrawn()}
    assert withdrawn <= set(before) and not withdrawn & set(after)


def test_interim_odds_follow_the_refreshes_and_move_toward_the_final(day: Day) -> None:
    d = day.twin.date
    race = day.twin.races[-1]
    opens = SCHEDULE.opens_at(d)
    a = odds_answer(race, d, SCHEDULE, opens + dt.timedelta(minutes=61, seconds=5))
    b = odds_answer(race, d, SCHEDULE, opens + dt.timedelta(minutes=62, seconds=59))
    c = odds_answer(race, d, SCHEDULE, opens + dt.timedelta(minutes=63))
    assert a.stamp == opens + dt.timedelta(minutes=60) and a == odds_answer(
        race, d, SCHEDULE, a.stamp
    )
    assert b.stamp == c.stamp == opens + dt.timedelta(minutes=62) and b == c

    def distance(share: float) -> float:
        total = 0.0
        for r in day.twin.races:
            at = opens + share * (r.closes_at(SCHEDULE) - opens)
            win = odds_answer(r, d, SCHEDULE, at).win
            total += sum(abs(np.log(win[n][0] / o)) for n, o in r.win.items())
        return total

    assert distance(0.75) < 0.5 * distance(0.0)


def test_a_result_is_not_there_until_official_and_an_inquiry_holds_it(day: Day) -> None:
    race = day.twin.races[0]
    held = day.twin.races[1]
    schedule = TwinSchedule(
        inquiries=MappingProxyType({held.netkeiba_id: dt.timedelta(minutes=20)})
    )
    clock = FixedClock(race.post_time + dt.timedelta(minutes=9, seconds=59))
    twin = NetkeibaTwin(day.twin, clock, schedule=schedule)
    path = "/race/result.html?race_id={}"
    assert twin.answer(path.format(race.netkeiba_id)).status == 404
    clock.advance(dt.timedelta(seconds=1))
    assert twin.answer(path.format(race.netkeiba_id)).status == 200
    clock = FixedClock(held.post_time + dt.timedelta(minutes=29))
    twin = NetkeibaTwin(day.twin, clock, schedule=schedule)
    assert twin.answer(path.format(held.netkeiba_id)).status == 404  # 審議
    clock.advance(dt.timedelta(minutes=1))
    assert twin.answer(path.format(held.netkeiba_id)).status == 200


def test_body_weights_appear_an_hour_before_post(day: Day) -> None:
    race = day.twin.races[5]
    clock = FixedClock(race.post_time - dt.timedelta(minutes=60, seconds=1))
    twin = NetkeibaTwin(day.twin, clock)
    path = f"/race/shutuba.html?race_id={race.netkeiba_id}"
    weights = lambda: [r.body_weight_kg for r in parse_card(twin.answer(path).body, "c").runners]  # noqa: E731
    assert set(weights()) == {None}
    clock.advance(dt.timedelta(seconds=1))
    assert weights() == [r["body_weight_kg"] for r in race.runners]


def test_unknown_paths_and_other_days_are_not_found(day: Day) -> None:
    twin = NetkeibaTwin(day.twin, FixedClock(jst(day.twin.date, 12)))
    race = day.twin.races[0].netkeiba_id
    for path in (
        "/top/race_list_sub.html?kaisai_date=20150125",
        "/race/shutuba.html?race_id=201506010699",
        f"/api/api_get_jra_odds.html?race_id={race}&type=4&action=init",
        "/favicon.ico",
    ):
        assert twin.answer(path).status == 404, path


# --- the collector against the served twin --------------------------------------------------


class Site:
    """The twin served on loopback, one clock for it and the collector (sleeps advance it)."""

    def __init__(self, base: str, clock: FixedClock, faults: TwinFaults) -> None:
        self.base, self.clock, self.faults = base, clock, faults

    def collect(self, warehouse: DuckDBWarehouse, tmp: Path, d: dt.date) -> CollectReport:
        config = CollectorConfig.model_validate(
            {"race_base_url": self.base, "db_base_url": self.base}
        )
        store = FsspecObjectStore(str(tmp / "objects"))
        sleep = lambda s: self.clock.advance(dt.timedelta(seconds=s))  # noqa: E731
        with HttpClient(config, self.clock, sleep) as client:
            return collect(warehouse, store, client, self.clock, d)


@pytest.fixture
def site(day: Day) -> Iterator[Site]:
    clock = FixedClock(jst(day.twin.date, 8, 30))
    faults = TwinFaults()
    with serve_twin(day.twin, clock, faults) as base:
        yield Site(base, clock, faults)


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse(None) as w:
        yield w


def _same(got: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> bool:
    return got.select(expected.columns).cast(expected.schema).sort(keys).equals(expected.sort(keys))


def test_a_race_day_collected_three_times_lands_as_the_world_day(
    day: Day, site: Site, warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    d = day.twin.date
    early = site.collect(warehouse, tmp_path, d)  # 08:30: cards and forecasts, no results
    assert not early.failed and early.stopped is None
    assert early.ingest.races == 0 and len(early.not_found) == 36
    runners = day.frame("runners")
    entries = warehouse.query("SELECT * FROM entries")
    status = (
        pl.when(pl.col("status").is_in(["scratched", "excluded"]))
        .then(pl.col("status"))
        .otherwise(pl.lit("declared"))
    )
    assert _same(
        entries, runners.select("race_id", *_CARD, status.alias("status")), ["race_id", "horse_no"]
    )
    assert (
        entries["body_weight_kg"].null_count() == entries.height
    )  # published from an hour before post
    assert warehouse.query("SELECT DISTINCT stage FROM odds")["stage"].to_list() == ["forecast"]

    site.clock.advance(jst(d, 11) - site.clock.now())
    mid = site.collect(warehouse, tmp_path, d)  # 11:00: the first races are official
    official = {r.race_id for r in day.twin.races if SCHEDULE.official_at(r) <= jst(d, 11)}
    assert official == {
        r.race_id for r in day.twin.races if SCHEDULE.official_at(r) <= jst(d, 11, 3)
    }
    assert 0 < mid.ingest.races == len(official) < 36
    assert set(warehouse.query("SELECT race_id FROM races")["race_id"]) == official
    stages = warehouse.query(
        "SELECT race_id, stage FROM odds WHERE as_of > TIMESTAMPTZ '2015-01-24 01:00:00+09'"
    )
    interim = set(stages.filter(pl.col("stage") == "interim")["race_id"])
    assert interim and not interim & official

    site.clock.advance(jst(d, 17) - site.clock.now())
    late = site.collect(warehouse, tmp_path, d)  # 17:00: every race is official
    assert late.ok and late.ingest.races == 36
    races = day.frame("races").drop("source", "ingested_at")
    assert _same(warehouse.query("SELECT * FROM races"), races, ["race_id"])
    assert _same(
        warehouse.query("SELECT * FROM runners"), day.frame("runners"), ["race_id", "horse_no"]
    )
    assert _same(
        warehouse.query("SELECT * FROM payouts"),
        day.frame("payouts"),
        ["race_id", "bet_type", "combination"],
    )
    final = warehouse.query("SELECT * FROM odds WHERE stage = 'final'")
    assert _same(final, day.frame("odds").drop("pool_yen"), ["race_id", "bet_type", "combination"])
    counts = dict(
        warehouse.query(
            "SELECT stage, count(DISTINCT race_id) FROM odds GROUP BY stage"
        ).iter_rows()
    )
    assert counts["forecast"] == 36 and counts["final"] == 36 and counts["interim"] > 0


# --- faults, as the collector sees them -----------------------------------------------------


@pytest.mark.parametrize("status", [403, 429])
def test_a_block_on_the_odds_api_stops_the_collector(
    status: int, site: Site, warehouse: DuckDBWarehouse, tmp_path: Path, day: Day
) -> None:
    site.faults.block(status, path="/api/")
    report = site.collect(warehouse, tmp_path, day.twin.date)
    assert report.stopped is not None and f"HTTP {status}" in report.stopped
    assert report.pages_stored == 2  # the list and the first card, stored and loaded
    assert report.ingest.cards == 1


def test_a_block_for_a_time_window_ends(
    site: Site, warehouse: DuckDBWarehouse, tmp_path: Path, day: Day
) -> None:
    now = site.clock.now()
    site.faults.block(429, start=now + dt.timedelta(seconds=30), end=now + dt.timedelta(minutes=5))
    first = site.collect(warehouse, tmp_path, day.twin.date)
    assert first.stopped is not None and "HTTP 429" in first.stopped
    assert first.requests == 31  # one a second: the 31st, 30 s in, was the first refused
    site.clock.advance(dt.timedelta(minutes=5))
    assert site.collect(warehouse, tmp_path, day.twin.date).stopped is None


@pytest.mark.parametrize("mode", ["503", "reset"])
def test_a_site_that_goes_down_fails_pages_then_stops_the_run(
    mode: str, site: Site, warehouse: DuckDBWarehouse, tmp_path: Path, day: Day
) -> None:
    site.faults.down(mode, start=site.clock.now() + dt.timedelta(seconds=2))
    report = site.collect(warehouse, tmp_path, day.twin.date)
    assert report.pages_stored == 2 and len(report.failed) == 5  # each after its retries
    assert all(("HTTP 503" if mode == "503" else "connection failed") in f for f in report.failed)
    assert report.stopped is not None and "not answering" in report.stopped


def test_a_short_outage_is_ridden_out_by_the_retries(
    site: Site, warehouse: DuckDBWarehouse, tmp_path: Path, day: Day
) -> None:
    site.faults.down("503", end=site.clock.now() + dt.timedelta(seconds=5))
    report = site.collect(warehouse, tmp_path, day.twin.date)
    assert not report.failed and report.stopped is None and report.ingest.cards == 36


def test_frozen_odds_keep_a_stale_timestamp(
    site: Site, warehouse: DuckDBWarehouse, tmp_path: Path, day: Day
) -> None:
    d = day.twin.date
    site.faults.freeze_odds(jst(d, 9, 30))
    site.clock.advance(jst(d, 9, 45) - site.clock.now())
    site.collect(warehouse, tmp_path, d)
    stamps = warehouse.query("SELECT DISTINCT stage, as_of FROM odds").rows()
    assert stamps == [("interim", jst(d, 9, 30).astimezone(dt.UTC))]  # a quarter of an hour old


def test_a_skewed_source_clock_shows_in_the_stamps(day: Day) -> None:
    d = day.twin.date
    faults = TwinFaults()
    clock = FixedClock(jst(d, 10, 1))
    twin = NetkeibaTwin(day.twin, clock, faults)
    race = day.twin.races[-1].netkeiba_id
    path = f"/api/api_get_jra_odds.html?race_id={race}&type=1&action=init"
    stamp = lambda: json.loads(twin.answer(path).body)["data"]["official_datetime"]  # noqa: E731
    assert stamp() == "2015-01-24 10:00:00"
    faults.skew_stamps(dt.timedelta(minutes=-7))
    assert stamp() == "2015-01-24 09:53:00" and twin.stamp_now() == clock.now() - dt.timedelta(
        minutes=7
    )


def test_a_skewed_http_date_reaches_the_client(site: Site, day: Day) -> None:
    import httpx

    site.faults.skew_stamps(dt.timedelta(hours=2))
    got = httpx.get(f"{site.base}/top/race_list_sub.html?kaisai_date={day.twin.date:%Y%m%d}")
    assert got.status_code == 200
    assert got.headers["date"] == "Sat, 24 Jan 2015 01:30:00 GMT"  # 08:30 JST + 2 h


def test_a_malformed_race_is_quarantined_and_the_rest_loads(
    site: Site, warehouse: DuckDBWarehouse, tmp_path: Path, day: Day
) -> None:
    bad = day.twin.races[4]
    site.faults.malform(bad.netkeiba_id)
    site.clock.advance(jst(day.twin.date, 17) - site.clock.now())
    report = site.collect(warehouse, tmp_path, day.twin.date)
    assert report.ingest.quarantined == 3 and report.ingest.races == 35
    assert all(bad.netkeiba_id in where for where in report.ingest.quarantine_locators)
    site.faults.clear()
    assert site.collect(warehouse, tmp_path, day.twin.date).ok


def test_schedule_checks_its_values() -> None:
    with pytest.raises(ValueError, match="refresh"):
        TwinSchedule(refresh=dt.timedelta(0))
    with pytest.raises(ValueError, match="official_after_post"):
        replace(SCHEDULE, official_after_post=dt.timedelta(minutes=-1))

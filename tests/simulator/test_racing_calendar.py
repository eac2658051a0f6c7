"""The calendar: weekends and a few Monday holidays, a seasonal rotation of the ten venues,
meetings and days numbered per venue as JRA does, and plausible post times."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import polars as pl

from keiba.common.ids import Venue
from keiba.simulator import SimulatedWorld
from keiba.simulator.calendar import post_minutes_jst, race_calendar


def test_racing_is_on_weekends_and_a_few_monday_holidays_with_two_or_three_venues() -> None:
    calendar = race_calendar(2015, 3)
    weekdays = Counter(date.weekday() for date, _ in calendar)
    assert set(weekdays) == {0, 5, 6}
    assert weekdays[0] <= 3 * 3
    assert all(2 <= len(days) <= 3 for _, days in calendar)
    venue_days = sum(len(days) for _, days in calendar) / 3
    assert 270 <= venue_days <= 300  # about 3,450 races a year at 12 a day
    assert all(dt.date(2015, 1, 4) <= date <= dt.date(2017, 12, 28) for date, _ in calendar)


def test_hokkaido_races_only_in_summer() -> None:
    for date, days in race_calendar(2016, 2):
        if {d.venue for d in days} & {Venue.SAPPORO, Venue.HAKODATE}:
            assert 6 <= date.month <= 9


def test_meetings_and_days_are_numbered_from_one_per_venue_and_year() -> None:
    calendar = race_calendar(2018, 1)
    by_venue: dict[Venue, list[tuple[int, int]]] = {}
    for _, days in calendar:
        for day in days:
            by_venue.setdefault(day.venue, []).append((day.meeting, day.meeting_day))
    for venue, numbers in by_venue.items():
        meetings = [m for m, _ in numbers]
        assert meetings == sorted(meetings), venue
        assert sorted(set(meetings)) == list(range(1, max(meetings) + 1)), venue
        for meeting in set(meetings):
            days = [d for m, d in numbers if m == meeting]
            assert days == list(range(1, len(days) + 1)), (venue, meeting)
            assert len(days) <= 12


def test_post_times_run_from_about_ten_to_the_main_race_late_afternoon() -> None:
    for slot in range(3):
        times = [post_minutes_jst(slot, r) for r in range(1, 13)]
        assert times == sorted(times)
        assert 9 * 60 + 45 <= times[0] <= 10 * 60 + 10
        assert 15 * 60 + 25 <= times[10] <= 15 * 60 + 45


def test_the_world_follows_the_calendar(year_world: SimulatedWorld) -> None:
    races = year_world.races
    per_day = races.group_by("race_date", "venue_code").agg(
        pl.col("race_no").sort().alias("numbers"),
        (pl.col("post_time").sort_by("race_no").diff().dt.total_minutes() > 0)
        .all()
        .alias("ascending"),
    )
    assert all(numbers == list(range(1, 13)) for numbers in per_day["numbers"].to_list())
    assert per_day["ascending"].all()
    assert 3300 <= races.height <= 3600
    jst = races.select(
        pl.col("race_no"), pl.col("post_time").dt.convert_time_zone("Asia/Tokyo").alias("jst")
    )
    first = set(jst.filter(pl.col("race_no") == 1)["jst"].dt.hour().to_list())
    main = set(jst.filter(pl.col("race_no") == 11)["jst"].dt.hour().to_list())
    assert first <= {9, 10}
    assert main == {15}
    assert (races["ingested_at"] > races["post_time"]).all()

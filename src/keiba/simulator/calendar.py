"""The racing calendar: which venues race on which days, and how their days are numbered.

JRA races on Saturdays and Sundays (and a few Monday holidays) from early January to the end
of December. Each racecourse holds several meetings (開催回) a year, numbered from 1 per
venue; the days of a meeting (日目) are numbered from 1. The seasonal rotation below follows
the real pattern: Tokyo/Nakayama in the east and Kyoto/Hanshin in the west most of the year,
Chukyo and Kokura in winter and summer, Fukushima and Niigata in spring, summer and autumn,
Sapporo and Hakodate only in summer. About 290 venue-days (3,450 races) a year.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from keiba.common.ids import Venue

__all__ = ["RaceDay", "post_minutes_jst", "race_calendar"]

# Meetings per venue as (first weekend, number of weekends); weekend 0 is the first Saturday
# on or after 4 January.
_MEETINGS: dict[Venue, tuple[tuple[int, int], ...]] = {
    Venue.TOKYO: ((4, 4), (16, 6), (22, 4), (40, 4), (44, 4)),
    Venue.NAKAYAMA: ((0, 4), (8, 4), (12, 4), (36, 4), (48, 4)),
    Venue.KYOTO: ((0, 4), (4, 4), (16, 6), (40, 4), (44, 4)),
    Venue.HANSHIN: ((8, 4), (12, 4), (22, 4), (36, 4), (48, 4)),
    Venue.CHUKYO: ((2, 2), (8, 4), (26, 4), (48, 4)),
    Venue.KOKURA: ((4, 4), (30, 6)),
    Venue.FUKUSHIMA: ((12, 3), (26, 4), (44, 3)),
    Venue.NIIGATA: ((16, 3), (30, 6), (40, 4)),
    Venue.HAKODATE: ((23, 3), (26, 3)),
    Venue.SAPPORO: ((30, 3), (33, 3)),
}

# The day's main venue first: it gets the latest post times and the biggest races.
_PRESTIGE = (
    Venue.TOKYO,
    Venue.NAKAYAMA,
    Venue.KYOTO,
    Venue.HANSHIN,
    Venue.CHUKYO,
    Venue.NIIGATA,
    Venue.SAPPORO,
    Venue.FUKUSHIMA,
    Venue.KOKURA,
    Venue.HAKODATE,
)

# Post times in minutes after midnight JST for races 1–12 at the main venue; the other venues
# of the day start a few minutes earlier so that post times interleave.
_POST_MINUTES = (605, 635, 665, 695, 745, 775, 805, 835, 870, 905, 940, 980)
_SLOT_OFFSET_MINUTES = (0, -10, -15)
_MONDAY_VENUES = 2


@dataclass(frozen=True)
class RaceDay:
    """One venue racing on one date: a 開催日 with its meeting and day numbers."""

    date: dt.date
    venue: Venue
    meeting: int
    meeting_day: int
    slot: int
    """0 for the day's main venue, 1 and 2 for the others."""


def post_minutes_jst(slot: int, race_no: int) -> int:
    """Post time of race `race_no` at a venue of the given slot, in minutes after 0:00 JST."""
    return _POST_MINUTES[race_no - 1] + _SLOT_OFFSET_MINUTES[min(slot, 2)]


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _holiday_mondays(year: int) -> tuple[dt.date, ...]:
    """成人の日, 敬老の日 and スポーツの日: the Monday holidays JRA usually races on."""
    return (
        _nth_weekday(year, 1, 0, 2),
        _nth_weekday(year, 9, 0, 3),
        _nth_weekday(year, 10, 0, 2),
    )


def _weekends(year: int) -> list[dt.date]:
    january_4 = dt.date(year, 1, 4)
    saturday = january_4 + dt.timedelta(days=(5 - january_4.weekday()) % 7)
    last = dt.date(year, 12, 27)
    saturdays = []
    while saturday <= last:
        saturdays.append(saturday)
        saturday += dt.timedelta(days=7)
    return saturdays


def _year_calendar(year: int) -> list[tuple[dt.date, tuple[RaceDay, ...]]]:
    saturdays = _weekends(year)
    venues_by_weekend: dict[int, list[Venue]] = {}
    for venue, meetings in _MEETINGS.items():
        for first, count in meetings:
            for weekend in range(first, min(first + count, len(saturdays))):
                venues_by_weekend.setdefault(weekend, []).append(venue)
    holiday_mondays = set(_holiday_mondays(year))
    dates_by_venue: dict[Venue, list[list[dt.date]]] = {}
    for venue, meetings in _MEETINGS.items():
        for first, count in meetings:
            days: list[dt.date] = []
            for weekend in range(first, min(first + count, len(saturdays))):
                saturday = saturdays[weekend]
                days += [saturday, saturday + dt.timedelta(days=1)]
                monday = saturday + dt.timedelta(days=2)
                ranked = sorted(venues_by_weekend[weekend], key=_PRESTIGE.index)
                if monday in holiday_mondays and venue in ranked[:_MONDAY_VENUES]:
                    days.append(monday)
            if days:
                dates_by_venue.setdefault(venue, []).append(days)
    by_date: dict[dt.date, list[tuple[Venue, int, int]]] = {}
    for venue, meeting_days in dates_by_venue.items():
        for meeting_index, days in enumerate(meeting_days):
            for day_index, date in enumerate(days):
                by_date.setdefault(date, []).append((venue, meeting_index + 1, day_index + 1))
    calendar = []
    for date in sorted(by_date):
        by_prestige = sorted(by_date[date], key=lambda item: _PRESTIGE.index(item[0]))
        calendar.append(
            (
                date,
                tuple(
                    RaceDay(date, venue, meeting, day, slot)
                    for slot, (venue, meeting, day) in enumerate(by_prestige)
                ),
            )
        )
    return calendar


def race_calendar(start_year: int, years: int) -> list[tuple[dt.date, tuple[RaceDay, ...]]]:
    """Every race date of `years` seasons from `start_year`, with the venues racing on it."""
    calendar: list[tuple[dt.date, tuple[RaceDay, ...]]] = []
    for year in range(start_year, start_year + years):
        calendar += _year_calendar(year)
    return calendar

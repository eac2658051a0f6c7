"""The race-day freeze: promotions refused around a race day's races, allowed outside."""

from __future__ import annotations

import datetime as dt

from keiba.common.clock import JST
from keiba.common.config import ReleaseConfig
from keiba.release import freeze_reason

CONFIG = ReleaseConfig(freeze_before_min=60, freeze_after_min=30)
SUNDAY = dt.date(2026, 6, 28)
POSTS = [dt.datetime.combine(SUNDAY, dt.time(h, 5), tzinfo=JST) for h in (10, 12, 15)]


def at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=JST).astimezone(dt.UTC)


def test_promotions_are_refused_from_before_the_first_race_to_after_the_last() -> None:
    for hour, minute in ((9, 5), (12, 0), (15, 35)):
        reason = freeze_reason(at(SUNDAY, hour, minute), POSTS, CONFIG)
        assert reason is not None and "10:05 to 15:05" in reason and "\n" not in reason
    for hour, minute in ((9, 4), (15, 36), (22, 0)):
        assert freeze_reason(at(SUNDAY, hour, minute), POSTS, CONFIG) is None


def test_another_days_races_do_not_freeze_today() -> None:
    monday = SUNDAY + dt.timedelta(days=1)
    assert freeze_reason(at(monday, 12, 0), POSTS, CONFIG) is None


def test_a_weekend_day_without_a_known_card_is_frozen_over_the_usual_hours() -> None:
    saturday = SUNDAY - dt.timedelta(days=1)
    reason = freeze_reason(at(saturday, 13, 0), [], CONFIG)
    assert reason is not None and "usual hours" in reason
    assert freeze_reason(at(saturday, 20, 0), [], CONFIG) is None
    assert freeze_reason(at(SUNDAY - dt.timedelta(days=3), 13, 0), [], CONFIG) is None

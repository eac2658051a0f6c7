"""Staleness of odds and results with an injected clock."""

from __future__ import annotations

import datetime as dt

import pytest

from keiba.common.clock import FixedClock
from keiba.monitor import Feed, StalenessLimits, staleness

T0 = dt.datetime(2024, 5, 26, 6, 0, tzinfo=dt.UTC)
LIMITS = StalenessLimits(dt.timedelta(minutes=5), dt.timedelta(hours=1))


def test_fresh_then_stale_as_the_clock_advances() -> None:
    clock = FixedClock(T0)
    assert staleness(clock.now(), T0, T0, LIMITS) == ()
    clock.advance(dt.timedelta(minutes=5))
    assert staleness(clock.now(), T0, T0, LIMITS) == ()  # exactly at the limit: still fresh
    clock.advance(dt.timedelta(seconds=1))
    (finding,) = staleness(clock.now(), T0, T0, LIMITS)
    assert finding.feed is Feed.ODDS and finding.problem == "stale"
    assert finding.age_s == 301 and "301 s old" in finding.message
    clock.advance(dt.timedelta(hours=1))
    assert [f.feed for f in staleness(clock.now(), T0, T0, LIMITS)] == [Feed.ODDS, Feed.RESULTS]


def test_never_seen_and_from_the_future() -> None:
    found = staleness(T0, None, T0 + dt.timedelta(minutes=2), LIMITS)
    assert [(f.feed, f.problem) for f in found] == [
        (Feed.ODDS, "never_seen"),
        (Feed.RESULTS, "from_future"),
    ]
    assert "120 s ahead" in found[1].message


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        staleness(T0, T0.replace(tzinfo=None), T0, LIMITS)

"""Staleness of odds and results against limits, at an instant given by the injected clock.

Stale odds mean a decision would be priced on a market that has moved: the monitor stops
buying until fresh odds arrive (fail safe). Stale results mean settlement lags, so the bankroll
and the bands are behind: a warning. A timestamp never seen, or one in
the future (a clock or feed fault), is a finding too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Feed", "StalenessFinding", "StalenessLimits", "staleness"]


class Feed(StrEnum):
    ODDS = "odds"
    RESULTS = "results"


@dataclass(frozen=True)
class StalenessLimits:
    max_odds_age: dt.timedelta
    max_result_age: dt.timedelta


@dataclass(frozen=True)
class StalenessFinding:
    """One feed that is too old, never seen, or timestamped after now."""

    feed: Feed
    problem: str
    """"stale", "never_seen" or "from_future"."""
    age_s: float | None
    limit_s: float

    @property
    def message(self) -> str:
        if self.problem == "never_seen":
            return f"no {self.feed.value} have been seen"
        if self.problem == "from_future":
            return f"the last {self.feed.value} are timestamped {-(self.age_s or 0):.0f} s ahead"
        return f"{self.feed.value} are {self.age_s:.0f} s old (limit {self.limit_s:.0f} s)"


def _aware(at: dt.datetime, what: str) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware, was {at.isoformat()}")
    return at


def _check(
    feed: Feed, now: dt.datetime, last: dt.datetime | None, limit: dt.timedelta
) -> StalenessFinding | None:
    limit_s = limit.total_seconds()
    if last is None:
        return StalenessFinding(feed, "never_seen", None, limit_s)
    age_s = (now - _aware(last, f"the last {feed.value} time")).total_seconds()
    if age_s < 0:
        return StalenessFinding(feed, "from_future", age_s, limit_s)
    if age_s > limit_s:
        return StalenessFinding(feed, "stale", age_s, limit_s)
    return None


def staleness(
    now: dt.datetime,
    last_odds_at: dt.datetime | None,
    last_result_at: dt.datetime | None,
    limits: StalenessLimits,
) -> tuple[StalenessFinding, ...]:
    """Findings for odds and results; empty when both are fresh. An age equal to its limit is
    still fresh."""
    _aware(now, "now")
    found = (
        _check(Feed.ODDS, now, last_odds_at, limits.max_odds_age),
        _check(Feed.RESULTS, now, last_result_at, limits.max_result_age),
    )
    return tuple(f for f in found if f is not None)

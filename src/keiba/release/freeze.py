"""The race-day freeze: no promotion from shortly before a race day's first post to after its last.

`freeze_reason` is pure: given the instant and the post times known for the race days around it
(from the race list or the cards collected, see `keiba.app.releases`), it says in one line why a
promotion is refused now, or returns None. A JRA weekend day with no known post times is frozen
over JRA's usual racing hours, since not knowing the card does not mean there is no racing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from keiba.common.clock import JST
from keiba.common.config import ReleaseConfig

__all__ = ["USUAL_FIRST_POST", "USUAL_LAST_POST", "freeze_reason"]

USUAL_FIRST_POST = dt.time(9, 50)
USUAL_LAST_POST = dt.time(16, 45)
"""JRA's usual first and last post times (JST), used for a weekend day without a known card."""


def _usual_posts(day: dt.date) -> list[dt.datetime]:
    if day.weekday() < 5:
        return []
    return [dt.datetime.combine(day, t, tzinfo=JST) for t in (USUAL_FIRST_POST, USUAL_LAST_POST)]


def freeze_reason(
    now: dt.datetime,
    posts: Sequence[dt.datetime],
    config: ReleaseConfig,
    what: str = "promotions",
) -> str | None:
    """Why a promotion (or what `what` names: a canary's start) at `now` is refused (the freeze
    around the JRA race day of `now`'s date in JST, whose post times are `posts`), or None."""
    day = now.astimezone(JST).date()
    todays = [p for p in posts if p.astimezone(JST).date() == day]
    known = bool(todays)
    todays = todays or _usual_posts(day)
    if not todays:
        return None
    start = min(todays) - dt.timedelta(minutes=config.freeze_before_min)
    end = max(todays) + dt.timedelta(minutes=config.freeze_after_min)
    if not start <= now <= end:
        return None
    source = "its race list" if known else "JRA's usual hours, no card known"
    return (
        f"race-day freeze: {day} races from {min(todays).astimezone(JST):%H:%M} to "
        f"{max(todays).astimezone(JST):%H:%M} JST ({source}); {what} are refused from "
        f"{start.astimezone(JST):%H:%M} to {end.astimezone(JST):%H:%M} JST unless forced "
        "with a reason"
    )

"""The injected clock. Domain code never reads the wall clock; it is handed a `Clock`.

`SystemClock` is the real one (used only at the edges: the CLI and services); `FixedClock`
serves tests and backtests, where time is whatever the replay says it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

__all__ = ["JST", "Clock", "FixedClock", "SystemClock"]

JST = dt.timezone(dt.timedelta(hours=9), "JST")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that says what it is told; `advance` moves it forward."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError(f"FixedClock needs a timezone-aware instant, was {at.isoformat()}")
        self._at = at

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta

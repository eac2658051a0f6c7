"""What the demo and the backtester replay races with, built by the caller (`keiba.app.replay`).

The evaluator prepares the races and decides where the replay's ledger lives and when the
replayed time starts; a `ReplayFactory` turns that ledger path and start instant into a
`ReplaySetup`: the replayed clock, the ledger (already funded), the monitor and its alerts, the
engine and the shadow strategies compared with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from keiba.bankroll import Ledger
from keiba.common.clock import FixedClock
from keiba.engine import RaceEngine, RaceResult, Replay, Shadow
from keiba.monitor import MemorySink, Monitor

__all__ = ["ReplayFactory", "ReplaySetup"]


@dataclass(frozen=True)
class ReplaySetup:
    """An engine in replay mode: its clock, ledger database and account, monitor and shadows."""

    clock: FixedClock
    database: Engine
    ledger: Ledger
    alerts: MemorySink
    monitor: Monitor | None
    engine: RaceEngine
    start_yen: int
    shadows: Sequence[Shadow] = ()

    def replay(self, results: Mapping[str, RaceResult]) -> Replay:
        """The replay of races settled by `results`, through this engine and its shadows."""
        return Replay(self.engine, self.clock, results, self.shadows, start_yen=self.start_yen)


ReplayFactory = Callable[[Path, dt.datetime], ReplaySetup]
"""Builds a `ReplaySetup` with its ledger at a path and its clock at an instant."""

"""The engine: one race from its inputs as of decision time to settled tickets, and replays.

`RaceEngine` decides, buys and settles one race for one ledger account through one broker; the
live race day, a replayed day, the backtest and the demo all run races through it, with a
different clock, broker, ledger and source of inputs (`keiba.engine.recorded` for races already
in the warehouse). `Replay` runs recorded races in the order their decisions and results happen.
"""

from keiba.engine.race import (
    CANARY_CAP,
    Canary,
    PlacedBet,
    RaceEngine,
    RaceInputs,
    RaceOutcome,
    RaceResult,
    SettledTicket,
    Status,
    implicit_release_id,
    ledger_bankroll,
)
from keiba.engine.replay import ENGINE, Account, Replay, ReplayRace, Shadow, ShadowBet

__all__ = [
    "CANARY_CAP",
    "ENGINE",
    "Account",
    "Canary",
    "PlacedBet",
    "RaceEngine",
    "RaceInputs",
    "RaceOutcome",
    "RaceResult",
    "Replay",
    "ReplayRace",
    "SettledTicket",
    "Shadow",
    "ShadowBet",
    "Status",
    "implicit_release_id",
    "ledger_bankroll",
]

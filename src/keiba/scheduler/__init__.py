"""The race-day scheduler: the day's timeline, its persisted journal, and the loop that runs it.

See docs/scheduler.md. `plan_day` turns the day's races (with post times, from the race list)
and the `race_day` configuration into steps with due times and deadlines; a `Journal` keeps the
plan and every step's fate in a SQLite file per day, so a day can be resumed; `run_day` runs
the due steps through a `StepHandlers` (the engine) on an injected clock and sleeper, live or
in `SimulatedTime`, and returns every race's outcome. It decides nothing about bets.
"""

from keiba.scheduler.journal import (
    Journal,
    JournalError,
    Outcome,
    Pause,
    RaceOutcome,
    StepState,
    journal_path,
    recorded_clock,
)
from keiba.scheduler.loop import (
    DecideResult,
    RaceSettlement,
    Settlement,
    SettleResult,
    SettleStatus,
    SimulatedTime,
    StepContext,
    StepHandlers,
    StepResult,
    live_sleep,
    run_day,
    run_decision,
    run_settlement,
)
from keiba.scheduler.timeline import (
    Plan,
    RaceSlot,
    Step,
    StepKind,
    plan_day,
    poll_times,
    races_from_list,
    step_id,
)

__all__ = [
    "DecideResult",
    "Journal",
    "JournalError",
    "Outcome",
    "Pause",
    "Plan",
    "RaceOutcome",
    "RaceSettlement",
    "RaceSlot",
    "SettleResult",
    "SettleStatus",
    "Settlement",
    "SimulatedTime",
    "Step",
    "StepContext",
    "StepHandlers",
    "StepKind",
    "StepResult",
    "StepState",
    "journal_path",
    "live_sleep",
    "plan_day",
    "poll_times",
    "races_from_list",
    "recorded_clock",
    "run_day",
    "run_decision",
    "run_settlement",
    "step_id",
]

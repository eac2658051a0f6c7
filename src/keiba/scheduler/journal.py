"""The race-day journal: one SQLite database per day holding the plan and what became of it.

It keeps the day's races and steps (due times, deadlines), every state change of every step
(planned → started → done | skipped | failed, each with its reason and time) and each race's
final outcome (bought, passed, skipped or failed, with a reason and a JSON detail), and the
operator's pauses: while the day is paused the loop makes no decision. A simulated day also
records where its clock stands, so that another process can follow it. Writes are
transactions that take the write lock at BEGIN (WAL mode), and a step's end, its race's outcome
and a follow-up step are written together, so a crash never leaves one without the other.

Opening an existing journal resumes it: the plan is kept, finished steps stay finished, and a
step found `started` was interrupted mid-way; the loop hands it back to its handler to reconcile.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from keiba.bankroll._db import begin_immediate, reading
from keiba.common.config import RaceDayConfig
from keiba.common.errors import KeibaError
from keiba.common.ids import Venue
from keiba.scheduler.timeline import Plan, RaceSlot, Step, StepKind

__all__ = [
    "Journal",
    "JournalError",
    "Outcome",
    "Pause",
    "RaceOutcome",
    "StepState",
    "journal_path",
    "recorded_clock",
]


class JournalError(KeibaError):
    """The journal cannot take what it was asked to record."""


class StepState(StrEnum):
    PLANNED = "planned"
    STARTED = "started"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


FINISHED = frozenset({StepState.DONE, StepState.SKIPPED, StepState.FAILED})


class Outcome(StrEnum):
    BOUGHT = "bought"
    PASSED = "passed"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RaceOutcome:
    """What became of one race; `detail` holds what the handlers said (and any outcome before)."""

    race_id: str
    outcome: Outcome
    reason: str
    detail: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Pause:
    """The day's pause state as last set: by whom, why and when (None: never set)."""

    paused: bool
    operator: str | None = None
    reason: str | None = None
    at: dt.datetime | None = None


_metadata = MetaData()
_day = Table(
    "day",
    _metadata,
    Column("race_date", String, primary_key=True),
    Column("config", Text, nullable=False),
)
_races = Table(
    "races",
    _metadata,
    Column("race_id", String, primary_key=True),
    Column("venue", Integer, nullable=False),
    Column("race_no", Integer, nullable=False),
    Column("post_time", String, nullable=False),
    Column("outcome", String),
    Column("reason", Text),
    Column("detail", Text),
    Column("outcome_at", String),
)
_steps = Table(
    "steps",
    _metadata,
    Column("step_id", String, primary_key=True),
    Column("race_id", String, ForeignKey("races.race_id"), nullable=False),
    Column("kind", String, nullable=False),
    Column("due", String, nullable=False),
    Column("deadline", String, nullable=False),
    Column("state", String, nullable=False),
    Column("reason", Text),
    Column("detail", Text),
)
_transitions = Table(
    "transitions",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("step_id", String, ForeignKey("steps.step_id"), nullable=False),
    Column("state", String, nullable=False),
    Column("reason", Text),
    Column("at", String, nullable=False),
)


_pauses = Table(
    "pauses",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("paused", Integer, nullable=False),
    Column("operator", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", String, nullable=False),
)
_clock = Table(
    "clock",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("at", String, nullable=False),
)


def journal_path(home: Path, race_date: dt.date) -> Path:
    """Where a day's journal lives under the home directory."""
    return home / "race-days" / f"{race_date.isoformat()}.sqlite"


def recorded_clock(path: Path) -> dt.datetime | None:
    """The clock a day's journal at `path` last recorded (`Journal.set_clock`), read without
    creating or writing anything; None when there is no journal or no clock in it yet."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT at FROM clock WHERE id = 1").fetchone()
    except sqlite3.Error:  # a journal being created, or one from before the clock was kept
        return None
    return None if row is None else dt.datetime.fromisoformat(str(row[0]))


def _ts(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"the journal needs timezone-aware times, was {at.isoformat()}")
    return at.astimezone(dt.UTC).isoformat()


def _json(detail: Mapping[str, Any] | None) -> str | None:
    return None if detail is None else json.dumps(dict(detail), default=str, ensure_ascii=False)


def _engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    begin_immediate(engine)
    return engine


def _step_of(row: Any) -> Step:
    return Step(
        row.step_id,
        row.race_id,
        StepKind(row.kind),
        dt.datetime.fromisoformat(row.due),
        dt.datetime.fromisoformat(row.deadline),
    )


class Journal:
    """A day's journal at `path` (created when missing, resumed when present)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._engine = _engine(path)
        try:
            with self._write() as conn:
                _metadata.create_all(conn)
        except DBAPIError as e:
            self._engine.dispose()
            reason = str(e.orig or e).strip().splitlines()[0]
            raise JournalError(f"cannot open the race-day journal {path}: {reason}") from e

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    def plan(self) -> Plan | None:
        """The recorded plan (its races and every step, follow-ups included), if any."""
        with reading(self._engine) as conn:
            day = conn.execute(select(_day)).one_or_none()
            if day is None:
                return None
            races = conn.execute(select(_races).order_by(_races.c.post_time, _races.c.race_id))
            steps = conn.execute(select(_steps))
            slots = tuple(
                RaceSlot(
                    r.race_id, Venue(r.venue), r.race_no, dt.datetime.fromisoformat(r.post_time)
                )
                for r in races
            )
            ordered = tuple(sorted((_step_of(s) for s in steps), key=lambda s: s.order))
        config = RaceDayConfig.model_validate_json(day.config)
        return Plan(dt.date.fromisoformat(day.race_date), slots, ordered, config)

    def record_plan(self, plan: Plan, at: dt.datetime) -> Plan:
        """Record `plan` unless one is recorded; planning the same races again changes nothing.

        Returns the recorded plan. A different day, or other races or post times, is refused.
        """
        with self._write() as conn:
            day = conn.execute(select(_day)).one_or_none()
            if day is not None:
                _check_same(conn, day.race_date, plan)
            else:
                self._insert_plan(conn, plan, at)
        recorded = self.plan()
        assert recorded is not None
        return recorded

    def _insert_plan(self, conn: Connection, plan: Plan, at: dt.datetime) -> None:
        conn.execute(
            insert(_day),
            [{"race_date": plan.race_date.isoformat(), "config": plan.config.model_dump_json()}],
        )
        conn.execute(
            insert(_races),
            [
                {
                    "race_id": r.race_id,
                    "venue": int(r.venue),
                    "race_no": r.race_no,
                    "post_time": _ts(r.post_time),
                }
                for r in plan.races
            ],
        )
        self._insert_steps(conn, plan.steps, at)

    def _insert_steps(self, conn: Connection, steps: Iterable[Step], at: dt.datetime) -> None:
        rows = [
            {
                "step_id": s.step_id,
                "race_id": s.race_id,
                "kind": s.kind.value,
                "due": _ts(s.due),
                "deadline": _ts(s.deadline),
                "state": StepState.PLANNED.value,
            }
            for s in steps
        ]
        if rows:
            conn.execute(insert(_steps), rows)
            conn.execute(
                insert(_transitions),
                [{"step_id": r["step_id"], "state": r["state"], "at": _ts(at)} for r in rows],
            )

    def _states(self, *states: StepState) -> list[Step]:
        with reading(self._engine) as conn:
            rows = conn.execute(select(_steps).where(_steps.c.state.in_([s.value for s in states])))
            return sorted((_step_of(r) for r in rows), key=lambda s: s.order)

    def planned(self) -> list[Step]:
        """Steps not yet started, in order."""
        return self._states(StepState.PLANNED)

    def interrupted(self) -> list[Step]:
        """Steps found started: the process ended while they ran."""
        return self._states(StepState.STARTED)

    def state(self, step_id: str) -> StepState:
        with reading(self._engine) as conn:
            return _state_in(conn, step_id)

    def states(self) -> dict[str, StepState]:
        """Every step's state, by step id."""
        with reading(self._engine) as conn:
            rows = conn.execute(select(_steps.c.step_id, _steps.c.state))
            return {r.step_id: StepState(r.state) for r in rows}

    def detail(self, step_id: str) -> dict[str, Any]:
        """What a step's end recorded beside its state (empty: nothing)."""
        with reading(self._engine) as conn:
            row = conn.execute(
                select(_steps.c.detail).where(_steps.c.step_id == step_id)
            ).one_or_none()
        if row is None:
            raise JournalError(f"no step {step_id} in the journal")
        found: dict[str, Any] = json.loads(row.detail or "{}")
        return found

    def history(self, step_id: str) -> list[tuple[StepState, str | None]]:
        """A step's state changes in order, each with its reason."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(_transitions.c.state, _transitions.c.reason)
                .where(_transitions.c.step_id == step_id)
                .order_by(_transitions.c.seq)
            )
            return [(StepState(r.state), r.reason) for r in rows]

    def start(self, step: Step, at: dt.datetime, *, resumed: bool = False) -> None:
        """Mark `step` started (a resumed step was already started before an interruption)."""
        was = StepState.STARTED if resumed else StepState.PLANNED
        reason = "resumed after an interruption" if resumed else None
        with self._write() as conn:
            self._move(conn, step.step_id, was, StepState.STARTED, reason, None, at)

    def finish(
        self,
        step: Step,
        state: StepState,
        reason: str | None,
        at: dt.datetime,
        *,
        detail: Mapping[str, Any] | None = None,
        outcome: RaceOutcome | None = None,
        follow_up: Step | None = None,
    ) -> None:
        """End a step; its race's outcome and a follow-up step, if any, in the same transaction.

        A step still planned (skipped without being started) may be finished too.
        """
        if state not in FINISHED:
            raise JournalError(f"{state} is not an end state")
        with self._write() as conn:
            now = _state_in(conn, step.step_id)
            if now in FINISHED:
                raise JournalError(f"step {step.step_id} already ended ({now})")
            self._move(conn, step.step_id, now, state, reason, detail, at)
            if outcome is not None:
                _set_outcome(conn, outcome, at)
            if follow_up is not None:
                self._insert_steps(conn, [follow_up], at)

    def _move(
        self,
        conn: Connection,
        step_id: str,
        was: StepState,
        state: StepState,
        reason: str | None,
        detail: Mapping[str, Any] | None,
        at: dt.datetime,
    ) -> None:
        moved = conn.execute(
            update(_steps)
            .where(_steps.c.step_id == step_id, _steps.c.state == was.value)
            .values(state=state.value, reason=reason, detail=_json(detail))
        )
        if moved.rowcount != 1:
            raise JournalError(f"step {step_id} is not {was.value}; cannot mark it {state.value}")
        conn.execute(
            insert(_transitions),
            [{"step_id": step_id, "state": state.value, "reason": reason, "at": _ts(at)}],
        )

    def pause(self) -> Pause:
        """Whether the operator has paused the day (the latest pause or resume recorded)."""
        with reading(self._engine) as conn:
            row = conn.execute(select(_pauses).order_by(_pauses.c.seq.desc()).limit(1)).first()
        if row is None:
            return Pause(False)
        return Pause(bool(row.paused), row.operator, row.reason, dt.datetime.fromisoformat(row.at))

    def set_paused(self, paused: bool, operator: str, reason: str, at: dt.datetime) -> Pause:
        """Pause the day (no decision is made until it is resumed) or resume it."""
        if not operator.strip() or not reason.strip():
            raise JournalError("pausing or resuming the day needs an operator and a reason")
        with self._write() as conn:
            conn.execute(
                insert(_pauses),
                [
                    {
                        "paused": int(paused),
                        "operator": operator.strip(),
                        "reason": reason.strip(),
                        "at": _ts(at),
                    }
                ],
            )
        return self.pause()

    def set_clock(self, at: dt.datetime) -> None:
        """Record where the day's clock stands (a simulated day's, as it advances), for a
        reader in another process."""
        with self._write() as conn:
            done = conn.execute(update(_clock).where(_clock.c.id == 1).values(at=_ts(at)))
            if done.rowcount == 0:
                conn.execute(insert(_clock), [{"id": 1, "at": _ts(at)}])

    def clock(self) -> dt.datetime | None:
        """The day's clock as last recorded by `set_clock` (None: never recorded)."""
        with reading(self._engine) as conn:
            at = conn.execute(select(_clock.c.at).where(_clock.c.id == 1)).scalar()
        return None if at is None else dt.datetime.fromisoformat(str(at))

    def set_outcome(self, outcome: RaceOutcome, at: dt.datetime) -> None:
        with self._write() as conn:
            _set_outcome(conn, outcome, at)

    def last_at(self) -> dt.datetime | None:
        """The time of the latest step transition recorded (None: nothing ran yet)."""
        with self._engine.connect() as conn:
            last = conn.execute(select(func.max(_transitions.c.at))).scalar_one()
        return None if last is None else dt.datetime.fromisoformat(str(last))

    def outcomes(self) -> dict[str, RaceOutcome | None]:
        """Every race of the day, in post-time order, with its outcome (None: not yet known)."""
        with reading(self._engine) as conn:
            rows = conn.execute(select(_races).order_by(_races.c.post_time, _races.c.race_id))
            return {
                r.race_id: None
                if r.outcome is None
                else RaceOutcome(
                    r.race_id, Outcome(r.outcome), r.reason or "", json.loads(r.detail or "{}")
                )
                for r in rows
            }


def _state_in(conn: Connection, step_id: str) -> StepState:
    value = conn.execute(select(_steps.c.state).where(_steps.c.step_id == step_id)).scalar()
    if value is None:
        raise JournalError(f"no step {step_id} in the journal")
    return StepState(value)


def _set_outcome(conn: Connection, outcome: RaceOutcome, at: dt.datetime) -> None:
    """A race's outcome; one recorded before is kept in the detail under `before`."""
    row = conn.execute(select(_races).where(_races.c.race_id == outcome.race_id)).one_or_none()
    if row is None:
        raise JournalError(f"no race {outcome.race_id} in the journal")
    detail = dict(outcome.detail)
    if row.outcome is not None:
        detail["before"] = {
            "outcome": row.outcome,
            "reason": row.reason,
            "detail": json.loads(row.detail or "{}"),
        }
    conn.execute(
        update(_races)
        .where(_races.c.race_id == outcome.race_id)
        .values(
            outcome=outcome.outcome.value,
            reason=outcome.reason,
            detail=_json(detail),
            outcome_at=_ts(at),
        )
    )


def _check_same(conn: Connection, race_date: str, plan: Plan) -> None:
    if race_date != plan.race_date.isoformat():
        raise JournalError(f"this journal is for {race_date}, not {plan.race_date.isoformat()}")
    recorded = {
        (r.race_id, dt.datetime.fromisoformat(r.post_time))
        for r in conn.execute(select(_races.c.race_id, _races.c.post_time))
    }
    wanted = {(r.race_id, r.post_time) for r in plan.races}
    if recorded != wanted:
        changed = sorted({race for race, _ in recorded ^ wanted})
        raise JournalError(
            f"the journal of {race_date} was planned with other races or post times "
            f"(differing: {', '.join(changed)}); it is kept as it is"
        )

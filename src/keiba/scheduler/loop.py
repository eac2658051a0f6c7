"""The race-day loop: runs the journal's due steps through the handlers, in live or simulated time.

The scheduler decides nothing about bets; it calls a `StepHandlers` (one method per step kind)
and owns only time and failure:

- among the steps that are due, a decision goes first, then weights, card, settlement, odds;
- a step that would start after its deadline is skipped as late;
- a handler raising the collector's `BlockedError` (403/429) pauses every step for the
  configured back-off (doubling while blocks repeat), alerts, and skips every step whose
  deadline falls in the pause, so a race whose decision can no longer be made is skipped;
- any other exception fails the step with a one-line reason and the day goes on; three in a
  row (the source is down) alert once;
- settlement is tried again until the result is official or the give-up time, after which the
  race is recorded as failed;
- a step found started when the day is resumed is handed back with `interrupted=True`;
- while the operator has paused the day (`Journal.set_paused`), a decision that comes due is
  skipped with the pause's reason; polls and settlements go on.

At the end every race has an outcome; `run_day` returns them. `run_decision` and
`run_settlement` run one race's decision or its next settlement try by themselves (a queued
task's call), through the same path.
"""

from __future__ import annotations

import datetime as dt
import heapq
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, Protocol

from keiba.common.clock import JST, Clock, FixedClock
from keiba.common.config import RaceDayConfig
from keiba.common.errors import one_line
from keiba.data_collector.http_client import BlockedError, backoff_seconds
from keiba.monitor.alerts import Alert, AlertSink, Severity, deliver
from keiba.scheduler.journal import Journal, Outcome, RaceOutcome, StepState
from keiba.scheduler.timeline import Plan, RaceSlot, Step, StepKind, step_id

__all__ = [
    "DecideResult",
    "RaceSettlement",
    "SettleResult",
    "SettleStatus",
    "Settlement",
    "SimulatedTime",
    "StepContext",
    "StepHandlers",
    "StepResult",
    "live_sleep",
    "run_day",
    "run_decision",
    "run_settlement",
]

Sleeper = Callable[[float], None]
live_sleep: Sleeper = time.sleep
_EMPTY: Mapping[str, Any] = MappingProxyType({})
FAILURES_TO_ALERT = 3
"""Steps failing one after another before the day alerts (once, until a step succeeds)."""


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a handler is told: the step, its race, the time, and whether it is a resumed step.

    `interrupted` means the process ended while this step ran: the handler must find out what
    was already done (a decision recorded, a purchase sent) before doing anything again.
    """

    step: Step
    race: RaceSlot
    now: dt.datetime
    interrupted: bool
    config: RaceDayConfig


@dataclass(frozen=True, slots=True)
class StepResult:
    """A card, weights or odds step's result: a short note and anything worth keeping."""

    note: str = ""
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class DecideResult:
    """A decision: bought, passed, skipped or failed, why, and what was decided (tickets...)."""

    outcome: Literal["bought", "passed", "skipped", "failed"]
    reason: str
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


class SettleStatus(StrEnum):
    OFFICIAL = "official"
    NOT_YET = "not_yet"
    INQUIRY = "inquiry"
    """審議: the stewards are inquiring; the result is not official yet."""


@dataclass(frozen=True, slots=True)
class SettleResult:
    status: SettleStatus
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


class Settlement(StrEnum):
    """Where a race's settlement stands, as `run_settlement` leaves it."""

    SETTLED = "settled"
    """The result was official and the race's tickets were settled."""
    PENDING = "pending"
    """Not official yet (or 審議): a further try is planned."""
    NOT_DUE = "not_due"
    """The race's first settlement try is not due yet."""
    FAILED = "failed"
    """No official result by the deadline: the race's outcome is failed."""
    NOTHING = "nothing"
    """The race has no settlement step (its plan has none)."""


@dataclass(frozen=True, slots=True)
class RaceSettlement:
    """A race's settlement: where it stands, why, what the official try settled (`detail`),
    and when a further call is worth it (`retry_at`, while pending or not due)."""

    race_id: str
    state: Settlement
    reason: str
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    retry_at: dt.datetime | None = None


class StepHandlers(Protocol):
    """The race-day work, one method per step kind. The engine implements it.

    A handler may raise: `BlockedError` pauses the day, anything else fails the step only.
    `decide` must not begin a purchase after `ctx.step.deadline`.
    """

    def card(self, ctx: StepContext) -> StepResult: ...

    def weights(self, ctx: StepContext) -> StepResult: ...

    def odds(self, ctx: StepContext) -> StepResult: ...

    def decide(self, ctx: StepContext) -> DecideResult: ...

    def settle(self, ctx: StepContext) -> SettleResult: ...


class SimulatedTime:
    """A `FixedClock` and a sleeper that advances it: a race day without waiting."""

    def __init__(self, start: dt.datetime) -> None:
        self.clock = FixedClock(start)

    def sleep(self, seconds: float) -> None:
        self.clock.advance(dt.timedelta(seconds=seconds))


def _hhmm(at: dt.datetime) -> str:
    return f"{at.astimezone(JST):%H:%M:%S}"


_CARDS = (StepKind.CARD, StepKind.WEIGHTS)

_OFFICIAL = "official"
_SETTLE_NOTES = {
    SettleStatus.NOT_YET: "result not yet official",
    SettleStatus.INQUIRY: "審議: stewards' inquiry pending",
}


class _Day:
    """One run of the loop over a journal."""

    def __init__(
        self,
        plan: Plan,
        journal: Journal,
        handlers: StepHandlers,
        clock: Clock,
        sleeper: Sleeper,
        alerts: Iterable[AlertSink],
    ) -> None:
        self.plan, self.journal, self.handlers = plan, journal, handlers
        self.clock, self.sleeper, self.alerts = clock, sleeper, tuple(alerts)
        self.config = plan.config
        self.queue = [(s.order, s) for s in journal.planned()]
        heapq.heapify(self.queue)
        self.ready: list[Step] = []
        self.blocks = 0
        self.failures = 0
        self.blocked_until: dt.datetime | None = None

    def run(self) -> dict[str, RaceOutcome]:
        for resumed in self.journal.interrupted():
            self._run(resumed, interrupted=True)
        while self.queue or self.ready:
            now = self.clock.now()
            if self.blocked_until is not None and now < self.blocked_until:
                self.sleeper((self.blocked_until - now).total_seconds())
                continue
            step = self._next(now)
            if step is None:
                self.sleeper((self.queue[0][1].due - now).total_seconds())
            else:
                self._take(step, now)
        return self._outcomes()

    def _take(self, step: Step, now: dt.datetime) -> None:
        """Run a due step, unless the day is paused (a decision) or its deadline has passed."""
        if step.kind is StepKind.DECIDE and (pause := self.journal.pause()).paused:
            why = f"the day is paused by {pause.operator}: {pause.reason}"
            self._end(step, StepState.SKIPPED, why, now)
        elif now > step.deadline:
            self._end(
                step,
                StepState.SKIPPED,
                f"late: started {_hhmm(now)}, deadline {_hhmm(step.deadline)}",
                now,
            )
        else:
            self._run(step, interrupted=False)

    def decide(self, race_id: str) -> RaceOutcome | None:
        """One race's decision, now: the outcome the journal holds if it has one; else a
        decision found started is resumed, or the race's next planned one, if due, is taken
        as the loop takes it, after its latest due card step (the card as it stands). None
        while the race has no outcome yet (its decision is not due, or was put off by a
        blocked source)."""
        done = self.journal.outcomes().get(race_id)
        if done is not None:
            return done
        # a block met here puts off this race's steps only; the others have tasks of their own
        self.queue = [entry for entry in self.queue if entry[1].race_id == race_id]
        heapq.heapify(self.queue)
        started = [s for s in self.journal.interrupted() if s.race_id == race_id]
        for step in started:
            self._run(step, interrupted=True)
        if not any(s.kind is StepKind.DECIDE for s in started):
            mine = sorted((s for _, s in self.queue if s.race_id == race_id), key=lambda s: s.order)
            decisions = [s for s in mine if s.kind is StepKind.DECIDE]
            if not decisions:
                raise KeyError(race_id)
            now = self.clock.now()
            if decisions[0].due > now:
                return None  # not due yet (a decision put off by a block is due after it)
            due_cards = [s for s in mine if s.kind in _CARDS and s.due <= now <= s.deadline]
            cards = [] if started else due_cards  # a resumed card step has just read the card
            taken = [*cards[-1:], decisions[0]]
            self.queue = [(s.order, s) for s in mine if s not in taken]
            heapq.heapify(self.queue)
            if cards:
                self._run(cards[-1], interrupted=False)
            self._take(decisions[0], self.clock.now())
        return self.journal.outcomes().get(race_id)

    def settle(self, race_id: str) -> RaceSettlement:
        """One race's next settlement try, now, as the loop runs it: a try found started is
        resumed; else the race's planned one is taken once its first try is due. A further try
        is taken as soon as it is asked for (the caller's retries set the pace), but not before
        the pause of a blocked source ends. A race settled before is not settled again."""
        steps = self._settle_steps(race_id)
        if not steps:
            return RaceSettlement(race_id, Settlement.NOTHING, "no settlement is planned")
        now = self.clock.now()
        if steps[0].due > now:
            return RaceSettlement(
                race_id,
                Settlement.NOT_DUE,
                f"first try at {_hhmm(steps[0].due)}",
                _EMPTY,
                steps[0].due,
            )
        last = steps[-1]
        state = self.journal.state(last.step_id)
        # a block met here puts off this race's steps only; the others have tasks of their own
        self.queue = [(s.order, s) for _, s in self.queue if s.race_id == race_id and s != last]
        heapq.heapify(self.queue)
        if state is StepState.STARTED:
            self._run(last, interrupted=True)
        elif state is StepState.PLANNED and self._ready_at(last, steps[0]) <= now:
            self._take(last, now)
        return self._settlement(race_id)

    def _settle_steps(self, race_id: str) -> list[Step]:
        """The race's settlement tries in the journal, in order (`KeyError`: no such race)."""
        plan = self.journal.plan()
        assert plan is not None
        plan.race(race_id)
        return [s for s in plan.steps if s.race_id == race_id and s.kind is StepKind.SETTLE]

    def _ready_at(self, step: Step, first: Step) -> dt.datetime:
        """When a planned try may be taken: the first when due, a further one from when the
        try before it ended (its due time less the retry interval: a block's pause included)."""
        if step == first:
            return step.due
        return step.due - dt.timedelta(seconds=self.config.settle_retry_s)

    def _settlement(self, race_id: str) -> RaceSettlement:
        """Where the race's settlement stands, from the journal."""
        steps = self._settle_steps(race_id)
        last = steps[-1]
        state, reason = self.journal.history(last.step_id)[-1]
        if state is StepState.DONE and reason == _OFFICIAL:
            detail = self.journal.detail(last.step_id)
            return RaceSettlement(race_id, Settlement.SETTLED, _OFFICIAL, detail)
        if state in (StepState.PLANNED, StepState.STARTED):
            before = self.journal.history(steps[-2].step_id)[-1][1] if len(steps) > 1 else None
            why = f"{before or 'not settled yet'}; next try at {_hhmm(last.due)}"
            return RaceSettlement(race_id, Settlement.PENDING, why, _EMPTY, last.due)
        outcome = self.journal.outcomes().get(race_id)
        why = outcome.reason if outcome is not None else reason or "not settled"
        return RaceSettlement(race_id, Settlement.FAILED, why)

    def _next(self, now: dt.datetime) -> Step | None:
        """The due step that goes first: by priority, so a decision never waits behind polls."""
        while self.queue and self.queue[0][1].due <= now:
            self.ready.append(heapq.heappop(self.queue)[1])
        if not self.ready:
            return None
        first = min(self.ready, key=lambda s: (s.kind.priority, s.order))
        self.ready.remove(first)
        return first

    def _run(self, step: Step, *, interrupted: bool) -> None:
        now = self.clock.now()
        self.journal.start(step, now, resumed=interrupted)
        ctx = StepContext(step, self.plan.race(step.race_id), now, interrupted, self.config)
        try:
            result = _call(self.handlers, ctx)
        except BlockedError as e:
            self._blocked(step, e)
            return
        except Exception as e:
            reason = one_line(e)
            self._end(step, StepState.FAILED, reason, self.clock.now())
            self._failing(step, reason)
            return
        self.blocks = 0
        self.failures = 0
        self._done(step, result, self.clock.now())

    def _failing(self, step: Step, reason: str) -> None:
        """Alert once when steps keep failing one after another (the source is down)."""
        self.failures += 1
        if self.failures != FAILURES_TO_ALERT:
            return
        deliver(
            Alert(
                "scheduler.steps_failing",
                Severity.CRITICAL,
                f"{self.failures} steps failed in a row (last: {step.step_id}: {reason})",
                self.clock.now(),
                MappingProxyType({"step": step.step_id, "reason": reason}),
            ),
            self.alerts,
        )

    def _done(
        self, step: Step, result: StepResult | DecideResult | SettleResult, at: dt.datetime
    ) -> None:
        if isinstance(result, DecideResult):
            outcome = RaceOutcome(
                step.race_id, Outcome(result.outcome), result.reason, result.detail
            )
            self.journal.finish(
                step, StepState.DONE, result.reason, at, detail=result.detail, outcome=outcome
            )
        elif isinstance(result, SettleResult) and result.status is not SettleStatus.OFFICIAL:
            self._end(step, StepState.DONE, _SETTLE_NOTES[result.status], at, result.detail)
        elif isinstance(result, SettleResult):
            self.journal.finish(step, StepState.DONE, _OFFICIAL, at, detail=result.detail)
        else:
            self.journal.finish(step, StepState.DONE, result.note or None, at, detail=result.detail)

    def _end(
        self,
        step: Step,
        state: StepState,
        reason: str,
        at: dt.datetime,
        detail: Mapping[str, Any] | None = None,
        *,
        retry_from: dt.datetime | None = None,
    ) -> None:
        """End a step that did not succeed; what it means for the race is decided here."""
        outcome: RaceOutcome | None = None
        follow_up: Step | None = None
        if step.kind is StepKind.DECIDE:
            kind = Outcome.FAILED if state is StepState.FAILED else Outcome.SKIPPED
            outcome = RaceOutcome(step.race_id, kind, f"decide {state.value}: {reason}")
        elif step.kind is StepKind.SETTLE:
            follow_up = self._settle_again(step, retry_from or at)
            if follow_up is None:
                outcome = RaceOutcome(
                    step.race_id,
                    Outcome.FAILED,
                    f"result not official by {_hhmm(step.deadline)} (last try: {reason})",
                )
        self.journal.finish(
            step, state, reason, at, detail=detail, outcome=outcome, follow_up=follow_up
        )
        if follow_up is not None:
            heapq.heappush(self.queue, (follow_up.order, follow_up))

    def _settle_again(self, step: Step, after: dt.datetime) -> Step | None:
        """The next try, `settle_retry_s` after this one ended (or a block's pause): from the
        time it ended, not its due time, since a queued call may run a try before it is due
        (and always in a later second than this one's, which names it)."""
        due = max(
            after + dt.timedelta(seconds=self.config.settle_retry_s),
            step.due + dt.timedelta(seconds=1),
        )
        if due > step.deadline:
            return None
        return Step(
            step_id(step.race_id, StepKind.SETTLE, due),
            step.race_id,
            StepKind.SETTLE,
            due,
            step.deadline,
        )

    def _blocked(self, step: Step, error: BlockedError) -> None:
        now = self.clock.now()
        self.blocks += 1
        wait = backoff_seconds(
            self.blocks, self.config.blocked_backoff_s, self.config.blocked_backoff_max_s
        )
        until = now + dt.timedelta(seconds=wait)
        self.blocked_until = until
        why = f"collector blocked (HTTP {error.status}), paused until {_hhmm(until)}"
        self._blocked_step(step, why, now, until)
        waiting = self.ready + [entry[1] for entry in self.queue]
        lost = sorted((s for s in waiting if s.deadline < until), key=lambda s: s.order)
        self.ready = [s for s in self.ready if s.deadline >= until]
        self.queue = [entry for entry in self.queue if entry[1].deadline >= until]
        heapq.heapify(self.queue)
        for victim in lost:
            self._end(victim, StepState.SKIPPED, why, now, retry_from=until)
        undecided = [*lost, *([step] if step.deadline < until else [])]
        races = sorted({s.race_id for s in undecided if s.kind is StepKind.DECIDE})
        deliver(
            Alert(
                "scheduler.collector_blocked",
                Severity.CRITICAL,
                f"{why}; decisions lost: {len(races)}",
                now,
                MappingProxyType(
                    {
                        "status": error.status,
                        "until": until.isoformat(),
                        "races_skipped": races,
                        "step": step.step_id,
                    }
                ),
            ),
            self.alerts,
        )

    def _blocked_step(self, step: Step, why: str, now: dt.datetime, until: dt.datetime) -> None:
        """The step that met the block: a decision still possible after the pause is retried."""
        if step.kind is StepKind.DECIDE and until <= step.deadline:
            retry = Step(
                step_id(step.race_id, StepKind.DECIDE, until),
                step.race_id,
                StepKind.DECIDE,
                until,
                step.deadline,
            )
            self.journal.finish(
                step, StepState.SKIPPED, f"{why}; retried then", now, follow_up=retry
            )
            heapq.heappush(self.queue, (retry.order, retry))
        else:
            self._end(step, StepState.SKIPPED, why, now, retry_from=until)

    def _outcomes(self) -> dict[str, RaceOutcome]:
        """Every race's outcome; a race the day left without one is recorded as failed."""
        now = self.clock.now()
        result: dict[str, RaceOutcome] = {}
        for race_id, outcome in self.journal.outcomes().items():
            if outcome is None:
                outcome = RaceOutcome(race_id, Outcome.FAILED, "no decision was recorded")
                self.journal.set_outcome(outcome, now)
            result[race_id] = outcome
        return result


def _call(handlers: StepHandlers, ctx: StepContext) -> StepResult | DecideResult | SettleResult:
    kind = ctx.step.kind
    if kind is StepKind.DECIDE:
        return handlers.decide(ctx)
    if kind is StepKind.SETTLE:
        return handlers.settle(ctx)
    if kind is StepKind.CARD:
        return handlers.card(ctx)
    if kind is StepKind.WEIGHTS:
        return handlers.weights(ctx)
    return handlers.odds(ctx)


def run_day(
    plan: Plan,
    journal: Journal,
    handlers: StepHandlers,
    clock: Clock,
    sleeper: Sleeper,
    *,
    alerts: Iterable[AlertSink] = (),
) -> dict[str, RaceOutcome]:
    """Run a race day to its end and return every race's outcome, in post-time order.

    The plan is recorded in the journal unless it already is (then the journal's is followed:
    a resumed day never runs a finished step again).
    """
    recorded = journal.record_plan(plan, clock.now())
    return _Day(recorded, journal, handlers, clock, sleeper, alerts).run()


def run_decision(
    plan: Plan,
    journal: Journal,
    handlers: StepHandlers,
    clock: Clock,
    sleeper: Sleeper,
    race_id: str,
    *,
    alerts: Iterable[AlertSink] = (),
) -> RaceOutcome | None:
    """Run one race's decision now, as the loop runs it when it comes due (the call a queued
    task makes at the race's decision time), and return the race's outcome.

    The plan is recorded unless it already is. A race that already has an outcome is not
    decided again: its outcome is returned. None when the race has no outcome yet (its
    decision is not due yet, or a blocked source put it off); `KeyError` for a race the plan
    does not have.
    """
    recorded = journal.record_plan(plan, clock.now())
    return _Day(recorded, journal, handlers, clock, sleeper, alerts).decide(race_id)


def run_settlement(
    plan: Plan,
    journal: Journal,
    handlers: StepHandlers,
    clock: Clock,
    sleeper: Sleeper,
    race_id: str,
    *,
    alerts: Iterable[AlertSink] = (),
) -> RaceSettlement:
    """Run one race's next settlement try now, as the loop runs it (the call a queued task
    makes after the race, retried by the queue until it is settled), and say where the race's
    settlement stands.

    The plan is recorded unless it already is. A try not official plans the next one, and the
    last before the deadline records the race as failed, as in the loop; a race settled before
    is answered from the journal and never settled again. `KeyError` for a race the plan does
    not have.
    """
    recorded = journal.record_plan(plan, clock.now())
    return _Day(recorded, journal, handlers, clock, sleeper, alerts).settle(race_id)

"""Fake race-day handlers and a small day of races, for the scheduler's tests."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from keiba.common.clock import JST
from keiba.common.ids import Venue
from keiba.scheduler import (
    DecideResult,
    RaceSlot,
    SettleResult,
    SettleStatus,
    SimulatedTime,
    StepContext,
    StepKind,
    StepResult,
)

DAY = dt.date(2026, 6, 28)


def at(hhmm: str, seconds: int = 0) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime(2026, 6, 28, hour, minute, seconds, tzinfo=JST)


def race(race_id: str, post: str) -> RaceSlot:
    return RaceSlot(race_id, Venue(int(race_id[4:6])), int(race_id[10:12]), at(post))


@dataclass(frozen=True)
class Call:
    step_id: str
    race_id: str
    kind: StepKind
    now: dt.datetime
    interrupted: bool


class Killed(BaseException):
    """The process dies mid-step (not an `Exception`: the loop must not catch it)."""


class FakeHandlers:
    """Records every call; `script[(race, kind)]` lists what successive calls do.

    An item that is an exception is raised, a callable is called with the context, anything
    else is returned; past the end of the list a call succeeds (passed, official). `cost_s`
    says how long a kind of step takes in simulated time.
    """

    def __init__(self, time: SimulatedTime, cost_s: dict[StepKind, float] | None = None) -> None:
        self.time = time
        self.cost_s = cost_s or {}
        self.script: dict[tuple[str, StepKind], list[Any]] = defaultdict(list)
        self.calls: list[Call] = []

    def plan(self, race_id: str, kind: StepKind, items: Iterable[Any]) -> None:
        self.script[(race_id, kind)].extend(items)

    def _do(self, ctx: StepContext, default: Any) -> Any:
        step = ctx.step
        self.calls.append(Call(step.step_id, step.race_id, step.kind, ctx.now, ctx.interrupted))
        self.time.sleep(self.cost_s.get(step.kind, 0.0))
        items = self.script[(step.race_id, step.kind)]
        item = items.pop(0) if items else default
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(ctx)
        return item

    def card(self, ctx: StepContext) -> StepResult:
        result: StepResult = self._do(ctx, StepResult("card read"))
        return result

    def weights(self, ctx: StepContext) -> StepResult:
        result: StepResult = self._do(ctx, StepResult())
        return result

    def odds(self, ctx: StepContext) -> StepResult:
        result: StepResult = self._do(ctx, StepResult(detail={"quotes": 16}))
        return result

    def decide(self, ctx: StepContext) -> DecideResult:
        result: DecideResult = self._do(ctx, DecideResult("passed", "no ticket above the EV bar"))
        return result

    def settle(self, ctx: StepContext) -> SettleResult:
        result: SettleResult = self._do(ctx, SettleResult(SettleStatus.OFFICIAL))
        return result

    def of(self, kind: StepKind, race_id: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.kind is kind and race_id in (None, c.race_id)]

"""The race-day timeline: from a day's races and the `race_day` configuration, every step planned.

Pure: no clock, no I/O. Each race gets a `card` step and its first `odds` poll when watching
starts, `odds` polls at the banded intervals until a while after post, a `weights` step, one
`decide` step and a first `settle` try (the loop schedules further tries). Every step has a
due time and a deadline: a step that cannot start by its deadline is not worth running.

A step's id is its race, kind and due time, so planning the same races again gives the same ids.
Steps are ordered by (due, priority, race): at equal times a decision comes before anything else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from keiba.common.clock import JST
from keiba.common.config import RaceDayConfig
from keiba.common.ids import Venue
from keiba.data_collector.netkeiba_cards import RaceList

__all__ = [
    "Plan",
    "RaceSlot",
    "Step",
    "StepKind",
    "plan_day",
    "poll_times",
    "races_from_list",
    "step_id",
]


class StepKind(StrEnum):
    CARD = "card"
    WEIGHTS = "weights"
    ODDS = "odds"
    DECIDE = "decide"
    SETTLE = "settle"

    @property
    def priority(self) -> int:
        """Lower runs first among steps that are due together."""
        return _PRIORITY[self]


_PRIORITY = {
    StepKind.DECIDE: 0,
    StepKind.WEIGHTS: 1,
    StepKind.CARD: 2,
    StepKind.SETTLE: 3,
    StepKind.ODDS: 4,
}


@dataclass(frozen=True, slots=True)
class RaceSlot:
    """One race of the day: netkeiba race id, venue, race number and scheduled post time."""

    race_id: str
    venue: Venue
    race_no: int
    post_time: dt.datetime

    def __post_init__(self) -> None:
        if self.post_time.tzinfo is None:
            raise ValueError(f"race {self.race_id}: post time must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do for one race, due at `due`, pointless after `deadline`."""

    step_id: str
    race_id: str
    kind: StepKind
    due: dt.datetime
    deadline: dt.datetime

    @property
    def order(self) -> tuple[dt.datetime, int, str, str]:
        return (self.due, self.kind.priority, self.race_id, self.step_id)


@dataclass(frozen=True, slots=True)
class Plan:
    """A race day: its races, their planned steps in order, and the configuration they follow."""

    race_date: dt.date
    races: tuple[RaceSlot, ...]
    steps: tuple[Step, ...]
    config: RaceDayConfig

    def race(self, race_id: str) -> RaceSlot:
        for race in self.races:
            if race.race_id == race_id:
                return race
        raise KeyError(race_id)


def step_id(race_id: str, kind: StepKind, due: dt.datetime) -> str:
    """The id of a race's step of `kind` due at `due` (JST, to the second)."""
    return f"{race_id}/{kind.value}/{due.astimezone(JST):%Y%m%dT%H%M%S}"


def _step(race: RaceSlot, kind: StepKind, due: dt.datetime, deadline: dt.datetime) -> Step:
    return Step(step_id(race.race_id, kind, due), race.race_id, kind, due, deadline)


def races_from_list(race_list: RaceList) -> tuple[RaceSlot, ...]:
    """The day's races as the scheduler needs them, from the parsed race list."""
    return tuple(
        RaceSlot(str(r.race_id), r.race_id.venue, r.race_id.race_no, r.post_time)
        for r in race_list.races
    )


def _interval(config: RaceDayConfig, post: dt.datetime, at: dt.datetime) -> dt.timedelta:
    """The gap after a poll at `at`: the band of the time just after it."""
    before = post - at
    for start_min, interval_min in config.poll_bands:
        if before > dt.timedelta(minutes=start_min):
            return dt.timedelta(minutes=interval_min)
    return dt.timedelta(minutes=config.poll_bands[-1][1])


def poll_times(race: RaceSlot, config: RaceDayConfig) -> list[dt.datetime]:
    """When a race's odds are polled: banded, a poll at every band's start, until the stop."""
    post = race.post_time
    band_starts = sorted(post - dt.timedelta(minutes=m) for m, _ in config.poll_bands)
    at = post - dt.timedelta(minutes=config.watch_from_min)
    stop = post + dt.timedelta(minutes=config.poll_stop_after_post_min)
    times = []
    while at <= stop:
        times.append(at)
        step = at + _interval(config, post, at)
        at = min([step, *(s for s in band_starts if at < s < step)])
    return times


def _race_steps(race: RaceSlot, config: RaceDayConfig) -> list[Step]:
    post = race.post_time
    close = post - dt.timedelta(seconds=config.close_lead_s)
    decide_at = close - dt.timedelta(seconds=config.decision_lead_s)
    submit_by = close - dt.timedelta(seconds=config.submit_deadline_s)
    polls = poll_times(race, config)
    last_interval = _interval(config, post, polls[-1])
    steps = [
        _step(race, StepKind.CARD, polls[0], decide_at),
        _step(
            race, StepKind.WEIGHTS, post - dt.timedelta(minutes=config.weights_lead_min), decide_at
        ),
        _step(race, StepKind.DECIDE, decide_at, submit_by),
        _step(
            race,
            StepKind.SETTLE,
            post + dt.timedelta(minutes=config.settle_first_min),
            post + dt.timedelta(minutes=config.settle_give_up_min),
        ),
    ]
    deadlines = [*polls[1:], polls[-1] + last_interval]
    steps += [
        _step(race, StepKind.ODDS, at, until) for at, until in zip(polls, deadlines, strict=True)
    ]
    return steps


def plan_day(race_date: dt.date, races: Iterable[RaceSlot], config: RaceDayConfig) -> Plan:
    """Every step of the day's races, ordered by (due, priority, race)."""
    slots = tuple(sorted(races, key=lambda r: (r.post_time, r.race_id)))
    ids = [r.race_id for r in slots]
    if len(set(ids)) != len(ids):
        raise ValueError(f"a race is listed twice: {sorted(i for i in ids if ids.count(i) > 1)}")
    for race in slots:
        if race.post_time.astimezone(JST).date() != race_date:
            raise ValueError(f"race {race.race_id} is not run on {race_date.isoformat()}")
    steps = [s for race in slots for s in _race_steps(race, config)]
    return Plan(race_date, slots, tuple(sorted(steps, key=lambda s: s.order)), config)

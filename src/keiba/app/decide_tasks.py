"""The race day on Cloud Tasks: the day's decisions and settlements queued, one race per call.

`enqueue_day` (`keiba run --date D --enqueue`) plans the live day from the race list (or reads
the plan its journal holds), records it, and puts two named tasks per race on the configured
queues: its decision on `tasks.queue`, due at its decision time, and its settlement on
`tasks.settle_queue` (or `tasks.queue` when that is not set), due at its first settlement try;
a task already queued is reported as such and not created again. `decide_live_race` is what a
decide task's call runs: that race's decision through the live race day's engine, journal and
ledger (`keiba.app.race_day.decide_race`), once. `settle_live_race` is what a settle task's
call runs, again each time the queue retries it: the race's next settlement try
(`keiba.app.race_day.settle_race`), until it is settled or past its deadline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keiba.app.days import live_setup
from keiba.app.race_day import (
    NoRacesError,
    RaceDaySetup,
    decide_race,
    plan_race_day,
    settle_race,
)
from keiba.app.serving import NotFoundError
from keiba.common.clock import JST
from keiba.common.config import KeibaConfig
from keiba.common.errors import ConfigError
from keiba.common.ids import RaceKey
from keiba.common.logging import get_logger
from keiba.scheduler import RaceOutcome, RaceSettlement
from keiba.scheduler.tasks import CloudTasksQueue, RaceTask, TaskQueue, decide_tasks, settle_tasks

__all__ = [
    "DayTasks",
    "SetupFor",
    "decide_live_race",
    "enqueue_day",
    "enqueue_live_day",
    "queue_from_config",
    "settle_live_race",
]

log = get_logger(__name__)

SetupFor = Callable[[dt.date], RaceDaySetup]
"""The race day's setup for a date (`live_setup` for the configured account, by default)."""


@dataclass(frozen=True)
class DayTasks:
    """What `enqueue_day` did: per race and step (decide, settle), its task, its queue and
    whether it was created now."""

    race_date: dt.date
    queue: str
    settle_queue: str
    rows: list[dict[str, Any]]


def queue_from_config(config: KeibaConfig, *, settle: bool = False) -> CloudTasksQueue:
    """The configured Cloud Tasks queue (`tasks` section) of the decide tasks, or with
    `settle` of the settle tasks (`tasks.settle_queue`, else the decide tasks' queue)."""
    tasks = config.tasks
    missing = [k for k in ("queue", "target_url", "invoker_email") if not getattr(tasks, k)]
    if tasks.queue is None or tasks.target_url is None or tasks.invoker_email is None:
        raise ConfigError(f"queueing the race day needs tasks.{', tasks.'.join(missing)}")
    return CloudTasksQueue(
        (tasks.settle_queue or tasks.queue) if settle else tasks.queue,
        tasks.target_url,
        tasks.invoker_email,
        audience=tasks.audience,
        endpoint=tasks.endpoint,
    )


def _name(queue: TaskQueue) -> str:
    return str(getattr(queue, "queue", ""))


def _put(queue: TaskQueue, step: str, tasks: list[RaceTask]) -> list[dict[str, Any]]:
    return [
        {
            "race_id": task.race_key,
            "step": step,
            "task": task.task_id,
            "queue": _name(queue),
            "schedule_time": task.schedule_time.astimezone(JST).isoformat(),
            "created": queue.create(task),
        }
        for task in tasks
    ]


def enqueue_day(
    config: KeibaConfig,
    race_date: dt.date,
    setup: RaceDaySetup,
    queue: TaskQueue,
    settle_queue: TaskQueue | None = None,
) -> DayTasks:
    """Plan the day and put each race's decide task on `queue` and its settle task on
    `settle_queue` (default: `queue`); twice, nothing new is created. A day whose race list
    lists no race queues nothing."""
    settling = settle_queue or queue
    try:
        plan = plan_race_day(setup, race_date)
    except NoRacesError:
        log.info("tasks.no_races", race_date=race_date.isoformat())
        return DayTasks(race_date, _name(queue), _name(settling), [])
    dataset = config.storage.dataset
    rows = _put(queue, "decide", decide_tasks(plan, dataset))
    rows += _put(settling, "settle", settle_tasks(plan, dataset))
    return DayTasks(race_date, _name(queue), _name(settling), rows)


def enqueue_live_day(config: KeibaConfig, account: str, race_date: dt.date) -> DayTasks:
    """`keiba run --date D --enqueue`: the live day's decisions and settlements on the
    configured queues."""
    queue = queue_from_config(config)
    settle_queue = queue_from_config(config, settle=True)
    setup = live_setup(config, account, race_date)
    return enqueue_day(config, race_date, setup, queue, settle_queue)


def _race(race_id: str) -> tuple[dt.date, str]:
    key = RaceKey.parse(race_id)
    return key.race_date, str(key.to_netkeiba())


def decide_live_race(setup_for: SetupFor, race_id: str) -> RaceOutcome | None:
    """A queued task's call: the race's decision now, once (its recorded outcome afterwards);
    None while it is put off (the source blocked it). Unknown races are `NotFoundError`."""
    race_date, netkeiba = _race(race_id)
    try:
        return decide_race(setup_for(race_date), race_date, netkeiba)
    except KeyError:
        raise NotFoundError(f"race {race_id} is not in the plan of {race_date}") from None


def settle_live_race(setup_for: SetupFor, race_id: str) -> RaceSettlement:
    """A queued settle task's call: the race's next settlement try now; a race settled (or
    failed) before is answered from its journal and not settled again. Unknown races are
    `NotFoundError`."""
    race_date, netkeiba = _race(race_id)
    try:
        return settle_race(setup_for(race_date), race_date, netkeiba)
    except KeyError:
        raise NotFoundError(f"race {race_id} is not in the plan of {race_date}") from None

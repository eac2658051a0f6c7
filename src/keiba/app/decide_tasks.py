"""The race day on Cloud Tasks: the day's decisions queued, and one race decided per call.

`enqueue_day` (`keiba run --date D --enqueue`) plans the live day from the race list (or reads
the plan its journal holds), records it, and puts one named task per race on the configured
queue, due at the race's decision time; a task already queued is reported as such and not
created again. `decide_live_race` is what a task's call runs: that race's decision through the
live race day's engine, journal and ledger (`keiba.app.race_day.decide_race`), once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keiba.app.days import live_setup
from keiba.app.race_day import NoRacesError, RaceDaySetup, decide_race, plan_race_day
from keiba.app.serving import NotFoundError
from keiba.common.clock import JST
from keiba.common.config import KeibaConfig
from keiba.common.errors import ConfigError
from keiba.common.ids import RaceKey
from keiba.common.logging import get_logger
from keiba.scheduler import RaceOutcome
from keiba.scheduler.tasks import CloudTasksQueue, TaskQueue, decide_tasks

__all__ = [
    "DayTasks",
    "SetupFor",
    "decide_live_race",
    "enqueue_day",
    "enqueue_live_day",
    "queue_from_config",
]

log = get_logger(__name__)

SetupFor = Callable[[dt.date], RaceDaySetup]
"""The race day's setup for a date (`live_setup` for the configured account, by default)."""


@dataclass(frozen=True)
class DayTasks:
    """What `enqueue_day` did: per race, its task and whether it was created now."""

    race_date: dt.date
    queue: str
    rows: list[dict[str, Any]]


def queue_from_config(config: KeibaConfig) -> CloudTasksQueue:
    """The configured Cloud Tasks queue (`tasks` section)."""
    tasks = config.tasks
    missing = [k for k in ("queue", "target_url", "invoker_email") if not getattr(tasks, k)]
    if tasks.queue is None or tasks.target_url is None or tasks.invoker_email is None:
        raise ConfigError(f"queueing the race day needs tasks.{', tasks.'.join(missing)}")
    return CloudTasksQueue(
        tasks.queue,
        tasks.target_url,
        tasks.invoker_email,
        audience=tasks.audience,
        endpoint=tasks.endpoint,
    )


def enqueue_day(
    config: KeibaConfig, race_date: dt.date, setup: RaceDaySetup, queue: TaskQueue
) -> DayTasks:
    """Plan the day and put one task per race on `queue`; twice, nothing new is created. A day
    whose race list lists no race queues nothing."""
    try:
        plan = plan_race_day(setup, race_date)
    except NoRacesError:
        log.info("tasks.no_races", race_date=race_date.isoformat())
        return DayTasks(race_date, str(getattr(queue, "queue", "")), [])
    rows = []
    for task in decide_tasks(plan, config.storage.dataset):
        created = queue.create(task)
        rows.append(
            {
                "race_id": task.race_key,
                "task": task.task_id,
                "schedule_time": task.schedule_time.astimezone(JST).isoformat(),
                "created": created,
            }
        )
    return DayTasks(race_date, str(getattr(queue, "queue", "")), rows)


def enqueue_live_day(config: KeibaConfig, account: str, race_date: dt.date) -> DayTasks:
    """`keiba run --date D --enqueue`: the live day's decisions on the configured queue."""
    queue = queue_from_config(config)
    return enqueue_day(config, race_date, live_setup(config, account, race_date), queue)


def decide_live_race(setup_for: SetupFor, race_id: str) -> RaceOutcome | None:
    """A queued task's call: the race's decision now, once (its recorded outcome afterwards);
    None while it is put off (the source blocked it). Unknown races are `NotFoundError`."""
    key = RaceKey.parse(race_id)
    race_date = key.race_date
    try:
        return decide_race(setup_for(race_date), race_date, str(key.to_netkeiba()))
    except KeyError:
        raise NotFoundError(f"race {race_id} is not in the plan of {race_date}") from None

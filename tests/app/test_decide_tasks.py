"""Queueing a day: a day whose race list lists no race queues nothing; the settings it needs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from keiba.app import decide_tasks
from keiba.app.race_day import NoRacesError
from keiba.common.config import load_config
from keiba.common.errors import ConfigError
from keiba.scheduler.tasks import RaceTask


class Refusing:
    queue = "projects/p/locations/l/queues/q"

    def create(self, task: RaceTask) -> bool:
        raise AssertionError(f"nothing is to be queued, not {task.task_id}")


def test_a_day_without_races_queues_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_races(setup: Any, day: dt.date) -> Any:
        raise NoRacesError(f"no races are listed for {day}")

    monkeypatch.setattr(decide_tasks, "plan_race_day", no_races)
    config = load_config(home=tmp_path)
    queued = decide_tasks.enqueue_day(config, dt.date(2026, 6, 30), None, Refusing())  # type: ignore[arg-type]
    assert queued.rows == [] and queued.queue == queued.settle_queue == Refusing.queue


def test_the_queue_needs_its_settings(tmp_path: Path) -> None:
    config = load_config(home=tmp_path)
    with pytest.raises(ConfigError, match=r"tasks\.queue, tasks\.target_url, tasks\.invoker_email"):
        decide_tasks.queue_from_config(config)
    tasks = config.tasks.model_copy(
        update={
            "queue": "projects/p/locations/l/queues/keiba-decide",
            "target_url": "https://keiba-api-1.l.run.app",
            "invoker_email": "keiba-tasks@p.iam.gserviceaccount.com",
        }
    )
    queue = decide_tasks.queue_from_config(config.model_copy(update={"tasks": tasks}))
    assert queue.audience == "https://keiba-api-1.l.run.app"
    settle = decide_tasks.queue_from_config(config.model_copy(update={"tasks": tasks}), settle=True)
    assert settle.queue == queue.queue  # no settle queue set: the decide tasks' queue
    own = tasks.model_copy(update={"settle_queue": "projects/p/locations/l/queues/keiba-settle"})
    settle = decide_tasks.queue_from_config(config.model_copy(update={"tasks": own}), settle=True)
    assert settle.queue == "projects/p/locations/l/queues/keiba-settle"

"""Named Cloud Tasks tasks per race (decide, settle), put on a loopback twin of the Cloud Tasks
REST API with the official client: names, schedule times, the OIDC settings, and nothing new
when put twice."""

from __future__ import annotations

import base64
import json

import pytest
from google.cloud.tasks_v2 import HttpMethod
from scheduler_fakes import DAY, at, race

from cloud_tasks_twin import CloudTasksTwin, running
from keiba.common.config import RaceDayConfig
from keiba.common.errors import ConfigError, KeibaError
from keiba.scheduler import StepKind, plan_day, step_id
from keiba.scheduler.tasks import CloudTasksQueue, decide_tasks, settle_tasks, task_id
from keiba.scheduler.timeline import Plan, Step

QUEUE = "projects/p/locations/asia-northeast1/queues/keiba-decide"
SERVICE = "https://keiba-api-123.asia-northeast1.run.app"
INVOKER = "keiba-decide-invoker@p.iam.gserviceaccount.com"
RACES = [
    race("202603020201", "10:05"),
    race("202603020202", "10:35"),
    race("202609030211", "15:25"),
]


def queue(url: str) -> CloudTasksQueue:
    return CloudTasksQueue(QUEUE, SERVICE, INVOKER, endpoint=url)


def test_a_task_per_race_at_its_decision_time() -> None:
    plan = plan_day(DAY, RACES, RaceDayConfig())
    tasks = decide_tasks(plan, "jra.main")
    assert [t.task_id for t in tasks] == [
        "decide-jra_main-2026062803020201",
        "decide-jra_main-2026062803020202",
        "decide-jra_main-2026062809030211",
    ]
    assert [t.schedule_time for t in tasks] == [at("09:57"), at("10:27"), at("15:17")]
    assert tasks[0].path == "/races/2026062803020201/decide"
    assert task_id("decide", "a b/c", "1") == "decide-a_b_c-1"


def test_a_settle_task_per_race_at_its_first_try() -> None:
    plan = plan_day(DAY, RACES, RaceDayConfig())
    tasks = settle_tasks(plan, "jra.main")
    assert [t.task_id for t in tasks] == [
        "settle-jra_main-2026062803020201",
        "settle-jra_main-2026062803020202",
        "settle-jra_main-2026062809030211",
    ]
    assert [t.schedule_time for t in tasks] == [at("10:15"), at("10:45"), at("15:35")]
    assert tasks[0].path == "/races/2026062803020201/settle"
    assert tasks[0].body() == b'{"race_id": "2026062803020201"}'


def test_a_journal_with_further_tries_still_gives_one_task_per_race() -> None:
    plan = plan_day(DAY, RACES[:1], RaceDayConfig())
    first = next(s for s in plan.steps if s.kind is StepKind.SETTLE)
    again = Step(
        step_id(first.race_id, StepKind.SETTLE, at("10:17")),
        first.race_id,
        StepKind.SETTLE,
        at("10:17"),
        first.deadline,
    )
    tried = Plan(plan.race_date, plan.races, (*plan.steps, again), plan.config)
    assert [t.schedule_time for t in settle_tasks(tried, "main")] == [at("10:15")]


def test_enqueueing_twice_creates_one_task_per_race() -> None:
    twin = CloudTasksTwin(queues={QUEUE})
    plan = plan_day(DAY, RACES, RaceDayConfig())
    tasks = decide_tasks(plan, "main") + settle_tasks(plan, "main")
    with running(twin) as url:
        first = [queue(url).create(t) for t in tasks]
        second = [queue(url).create(t) for t in tasks]
    assert first == [True] * 6
    assert second == [False] * 6
    assert sorted(twin.tasks) == sorted(f"{QUEUE}/tasks/{t.task_id}" for t in tasks)
    assert len(twin.refused) == 6
    assert set(twin.authorizations) == {None}  # no credentials to a plain-http twin


def test_the_task_posts_to_the_service_with_an_oidc_token() -> None:
    twin = CloudTasksTwin(queues={QUEUE})
    task = decide_tasks(plan_day(DAY, RACES[:1], RaceDayConfig()), "main")[0]
    with running(twin) as url:
        assert queue(url).create(task)
    sent = twin.tasks[f"{QUEUE}/tasks/{task.task_id}"]
    assert sent["scheduleTime"] == "2026-06-28T00:57:00Z"  # 09:57 JST
    http = sent["httpRequest"]
    assert http["httpMethod"] == HttpMethod.POST.value  # the REST client sends enums as numbers
    assert http["url"] == f"{SERVICE}/races/2026062803020201/decide"
    assert http["oidcToken"] == {"serviceAccountEmail": INVOKER, "audience": SERVICE}
    assert json.loads(base64.b64decode(http["body"])) == {"race_id": "2026062803020201"}


def test_a_missing_queue_is_an_error_not_a_duplicate() -> None:
    task = decide_tasks(plan_day(DAY, RACES[:1], RaceDayConfig()), "main")[0]
    with running(CloudTasksTwin()) as url, pytest.raises(KeibaError, match="NotFound"):
        queue(url).create(task)


@pytest.mark.parametrize(
    ("name", "target", "endpoint"),
    [
        ("keiba-decide", SERVICE, None),
        (QUEUE, "http://keiba.example.com", None),
        (QUEUE, SERVICE, "http://tasks.example.com"),
    ],
)
def test_refused_settings(name: str, target: str, endpoint: str | None) -> None:
    with pytest.raises(ConfigError):
        CloudTasksQueue(name, target, INVOKER, endpoint=endpoint)

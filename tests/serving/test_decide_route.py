"""The race day on Cloud Tasks, end to end on the netkeiba twin in simulated time.

A small simulated world's day is planned and queued (one named task per race on a loopback
twin of Cloud Tasks, twice: nothing new the second time); then, at each task's schedule time,
the decide route is called twice, as Cloud Tasks would after a lost answer. The first call
decides and buys through the race day's engine, the second buys nothing and answers the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud_tasks_twin import CloudTasksTwin, running
from keiba.app.decide_tasks import enqueue_day
from keiba.app.race_day import RaceDaySetup
from keiba.app.twin_day import TWIN_ACCOUNT, TwinPrepared, prepare_twin, twin_setup
from keiba.bankroll import Ticket
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.execution import PaperBroker, Submission
from keiba.scheduler.tasks import CloudTasksQueue
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role, TokenStore, tokens_path
from keiba.simulator import WorldConfig
from keiba.simulator.netkeiba_twin_day import TwinDay

WORLD = WorldConfig(seed=3, max_race_days=12)
QUEUE = "projects/p/locations/asia-northeast1/queues/keiba-decide"
SERVICE = "https://keiba-api-123.asia-northeast1.run.app"
INVOKER = "keiba-decide-invoker@p.iam.gserviceaccount.com"


def _config(home: Path) -> KeibaConfig:
    config = load_config(home=home)
    sections = {
        "model": {"num_boost_round": 30, "learning_rate": 0.1, "num_leaves": 7},
        "race_day": {
            "watch_from_min": 60,
            "weights_lead_min": 30,
            "poll_bands": [[60, 10], [0, 5]],
        },
        "themis": {"ev_threshold": 1.0},  # generous: some races buy
    }
    return config.model_copy(
        update={
            name: getattr(config, name).model_validate(
                {**getattr(config, name).model_dump(), **values}
            )
            for name, values in sections.items()
        }
    )


class CountingBroker:
    """The paper broker, counting the tickets sent to it."""

    def __init__(self) -> None:
        self.paper = PaperBroker()
        self.sent: list[str] = []

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        self.sent += [t.ticket_id for t in tickets]
        return self.paper.submit(tickets)

    def history(self, day: dt.date) -> list[object]:
        return list(self.paper.history(day))


@dataclass
class Served:
    client: TestClient
    setup: RaceDaySetup
    broker: CountingBroker
    prepared: TwinPrepared
    decider: str
    viewer: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("tasks-home")
    prepared = prepare_twin(_config(home), world=WORLD)
    firsts: dict[object, object] = {}
    for race in sorted(prepared.day.races, key=lambda r: r.post_time):
        firsts.setdefault(race.race["venue_code"], race)
    three = TwinDay(prepared.day.date, tuple(firsts.values()))  # type: ignore[arg-type]
    prepared = replace(prepared, day=three)
    broker = CountingBroker()
    with twin_setup(prepared, broker=broker) as setup:  # type: ignore[arg-type]
        store = TokenStore(tokens_path(home), setup.clock.now)
        _, decider = store.create("tasks", Role.DECIDER)
        _, viewer = store.create("viewer", Role.VIEWER)
        settings = ServeSettings(
            prepared.config,
            store,
            TWIN_ACCOUNT,
            throttle=FailureThrottle(limit=1_000_000),
            clock=setup.clock,
            decide=lambda _: setup,
        )
        with TestClient(create_app(settings)) as client:
            yield Served(client, setup, broker, prepared, decider, viewer)


def test_a_queued_day_is_decided_once_per_race(served: Served) -> None:
    twin = CloudTasksTwin(queues={QUEUE})
    config, day = served.prepared.config, served.prepared.day.date
    with running(twin) as url:
        queue = CloudTasksQueue(QUEUE, SERVICE, INVOKER, endpoint=url)
        first = enqueue_day(config, day, served.setup, queue)
        again = enqueue_day(config, day, served.setup, queue)
    assert [r["created"] for r in first.rows] == [True] * 3
    assert [r["created"] for r in again.rows] == [False] * 3
    assert len(twin.tasks) == 3 and len(twin.refused) == 3
    clock = served.setup.clock
    assert isinstance(clock, FixedClock)
    outcomes = []
    for name, task in sorted(twin.tasks.items(), key=lambda kv: kv[1]["scheduleTime"]):
        clock.advance(dt.datetime.fromisoformat(task["scheduleTime"]) - clock.now())
        path = task["httpRequest"]["url"].removeprefix(SERVICE)
        auth = {"Authorization": f"Bearer {served.decider}"}
        as_viewer = {"Authorization": f"Bearer {served.viewer}"}
        assert served.client.post(path, headers=as_viewer).status_code == 403
        answer = served.client.post(path, headers=auth)
        assert answer.status_code == 200, answer.text
        sent = list(served.broker.sent)
        repeat = served.client.post(path, headers=auth)
        assert repeat.status_code == 200 and repeat.json() == answer.json()
        assert served.broker.sent == sent, name  # the second call bought nothing
        outcomes.append(answer.json()["outcome"])
    assert set(outcomes) <= {"bought", "passed"}, outcomes
    assert "bought" in outcomes
    assert len(served.broker.sent) == len(set(served.broker.sent)) > 0


def test_a_race_not_in_the_plan_is_404(served: Served) -> None:
    auth = {"Authorization": f"Bearer {served.decider}"}
    day = served.prepared.day.date
    answer = served.client.post(f"/races/{day:%Y%m%d}10011212/decide", headers=auth)
    assert answer.status_code == 404, answer.text

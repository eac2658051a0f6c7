"""The race day on Cloud Tasks, end to end on the netkeiba twin in simulated time.

A small simulated world's day is planned and queued (two named tasks per race on a loopback
twin of Cloud Tasks, twice: nothing new the second time); then the tasks are run in time order
as the queue runs them. A decide task's route is called twice, as Cloud Tasks would after a
lost answer: the first call decides and buys through the race day's engine, the second buys
nothing and answers the same. A settle task's first try comes before the result is official:
it answers 503 and is retried with the queue's back-off until it settles the race's tickets
with the official payouts; called again it pays nothing more.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud_tasks_twin import CloudTasksTwin, running
from keiba.app.decide_tasks import enqueue_day
from keiba.app.race_day import RaceDaySetup
from keiba.app.twin_day import TWIN_ACCOUNT, TwinPrepared, twin_setup
from keiba.bankroll import Ledger, Ticket
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.money import Yen
from keiba.common.storage import create_ledger_engine
from keiba.execution import PaperBroker, Submission
from keiba.market.settlement import settle_ticket
from keiba.scheduler.tasks import CloudTasksQueue
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role, TokenStore, tokens_path
from keiba.simulator.netkeiba_twin_day import TwinDay
from twin_home import MODEL, WORLD, TwinHome

RACES = ("08020310", "10010311", "05010312")  # <venue><meeting><day><race>
QUEUE = "projects/p/locations/asia-northeast1/queues/keiba-decide"
SETTLE_QUEUE = "projects/p/locations/asia-northeast1/queues/keiba-settle"
SERVICE = "https://keiba-api-123.asia-northeast1.run.app"
INVOKER = "keiba-decide-invoker@p.iam.gserviceaccount.com"


def _config(home: Path) -> KeibaConfig:
    config = load_config(home=home)
    sections = {
        "model": MODEL,
        "race_day": {
            "watch_from_min": 60,
            "weights_lead_min": 30,
            "poll_bands": [[60, 10], [0, 5]],
            "settle_first_min": 5,  # the twin's results are official 10 minutes after post
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
def served(tmp_path_factory: pytest.TempPathFactory, twin_home: TwinHome) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("tasks-home")
    prepared = twin_home.prepare(_config(home), world=WORLD)
    # three races of the seeded world's day, one per racecourse, in which a ticket wins
    three = TwinDay(
        prepared.day.date,
        tuple(r for r in prepared.day.races if r.race_id[-8:] in RACES),
    )
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


def _queued(served: Served) -> CloudTasksTwin:
    """The day put on the twin of Cloud Tasks twice: the second time adds nothing."""
    twin = CloudTasksTwin(queues={QUEUE, SETTLE_QUEUE})
    config, day = served.prepared.config, served.prepared.day.date
    with running(twin) as url:
        queue = CloudTasksQueue(QUEUE, SERVICE, INVOKER, endpoint=url)
        settle = CloudTasksQueue(SETTLE_QUEUE, SERVICE, INVOKER, endpoint=url)
        first = enqueue_day(config, day, served.setup, queue, settle)
        again = enqueue_day(config, day, served.setup, queue, settle)
    assert [r["created"] for r in first.rows] == [True] * 6
    assert [r["created"] for r in again.rows] == [False] * 6
    assert len(twin.tasks) == 6 and len(twin.refused) == 6
    queues = {name.split("/tasks/")[0] for name in twin.tasks}
    assert queues == {QUEUE, SETTLE_QUEUE}
    return twin


def _backoff(attempt: int) -> dt.timedelta:
    """The settle queue's back-off: 60 s, doubling, at most 300 s."""
    return dt.timedelta(seconds=min(60 * 2**attempt, 300))


def _ledger(served: Served) -> Ledger:
    return Ledger.existing(
        create_ledger_engine(served.setup.ledger_url), served.setup.clock, TWIN_ACCOUNT
    )


def _official(served: Served, ticket: dict[str, object]) -> int:
    """What the twin's result pays for a ticket: its payouts and runners, as published."""
    race = next(r for r in served.prepared.day.races if r.race_id == ticket["race_id"])
    payouts = {
        (str(p["bet_type"]), str(p["combination"])): int(p["payout_yen"]) for p in race.payouts
    }
    statuses = {int(r["horse_no"]): str(r["status"]) for r in race.runners}
    frames = {int(r["horse_no"]): int(r["frame_no"]) for r in race.runners}
    bet = BetType(str(ticket["bet_type"]))
    stake = int(str(ticket["stake_yen"]))
    outcome = settle_ticket(bet, str(ticket["combination"]), Yen(stake), payouts, statuses, frames)
    return int(outcome.paid)


def test_a_queued_day_is_decided_and_settled_once_per_race(served: Served) -> None:
    twin = _queued(served)
    clock = served.setup.clock
    assert isinstance(clock, FixedClock)
    auth = {"Authorization": f"Bearer {served.decider}"}
    as_viewer = {"Authorization": f"Bearer {served.viewer}"}
    due = [
        (dt.datetime.fromisoformat(t["scheduleTime"]), name, 0) for name, t in twin.tasks.items()
    ]
    heapq.heapify(due)
    outcomes, settled, retried = [], [], 0
    while due:
        at, name, attempt = heapq.heappop(due)
        clock.advance(max(at - clock.now(), dt.timedelta(0)))
        path = twin.tasks[name]["httpRequest"]["url"].removeprefix(SERVICE)
        if attempt == 0:
            assert served.client.post(path, headers=as_viewer).status_code == 403, path
        answer = served.client.post(path, headers=auth)
        if answer.status_code == 503 and path.endswith("/settle"):
            assert int(answer.headers["retry-after"]) >= 1
            retried += 1
            heapq.heappush(due, (clock.now() + _backoff(attempt), name, attempt + 1))
            continue
        assert answer.status_code == 200, answer.text
        sent, entries = list(served.broker.sent), len(_ledger(served).history())
        repeat = served.client.post(path, headers=auth)
        assert repeat.status_code == 200 and repeat.json() == answer.json()
        assert served.broker.sent == sent, name  # the second call bought nothing
        assert len(_ledger(served).history()) == entries, name  # and paid nothing
        if path.endswith("/settle"):
            settled.append(answer.json())
        else:
            outcomes.append(answer.json()["outcome"])
    assert set(outcomes) <= {"bought", "passed"}, outcomes
    assert "bought" in outcomes
    assert len(served.broker.sent) == len(set(served.broker.sent)) > 0
    assert [s["state"] for s in settled] == ["settled"] * 3
    assert retried >= 3  # every first try came before the official result
    ledger = _ledger(served)
    tickets = ledger.tickets()
    assert sorted(t["ticket_id"] for t in tickets) == sorted(served.broker.sent)
    assert {t["state"] for t in tickets} == {"settled"}
    for ticket in tickets:
        assert ticket["payout_yen"] == _official(served, ticket), ticket["ticket_id"]
    paid = [e for e in ledger.history() if e["kind"] in ("payout", "refund")]
    assert len({e["ticket_id"] for e in paid}) == len(paid)  # each ticket paid once at most
    assert sum(int(e["cash_yen"]) for e in paid) == sum(t["payout_yen"] for t in tickets)
    assert sum(s["paid_yen"] for s in settled) == sum(t["payout_yen"] for t in tickets)
    assert sum(s["tickets"] for s in settled) == len(tickets)
    assert any(t["payout_yen"] > 0 for t in tickets)  # a ticket won: its payout was checked


def test_a_race_not_in_the_plan_is_404(served: Served) -> None:
    auth = {"Authorization": f"Bearer {served.decider}"}
    day = served.prepared.day.date
    for step in ("decide", "settle"):
        answer = served.client.post(f"/races/{day:%Y%m%d}10011212/{step}", headers=auth)
        assert answer.status_code == 404, answer.text


def test_the_routes_are_in_the_openapi_schema_for_the_decider_only(served: Served) -> None:
    schema = served.client.get(
        "/openapi.json", headers={"Authorization": f"Bearer {served.viewer}"}
    ).json()
    settle = schema["paths"]["/races/{race_id}/settle"]["post"]
    assert settle["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Settled"
    }
    assert settle["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "/races/{race_id}/decide" in schema["paths"]
    race = served.prepared.day.races[0].race_id
    as_viewer = {"Authorization": f"Bearer {served.viewer}"}
    for step in ("decide", "settle"):
        assert served.client.post(f"/races/{race}/{step}").status_code == 401
        assert served.client.post(f"/races/{race}/{step}", headers=as_viewer).status_code == 403

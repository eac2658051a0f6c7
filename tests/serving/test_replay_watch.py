"""`keiba serve --replay --date D`: the server follows a replay that runs in another thread, on
the replay's clock, and an operator's resume after a monitor stop reaches the running replay.

A three-race twin day is recorded once; each test replays it from a fresh copy of the home in a
thread whose simulated clock advances only when the test lets it (`replayed_day.Gate`), and
reads it through the app `settings_for(..., replay=D)` builds, as `keiba serve --replay` does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from replayed_day import PATIENCE_S, Gate, held_by_the_monitor, inject_stop, start_replay
from served_home import TestClient
from test_serve_process import keiba, serve_process

from keiba.app.recorded_day import REPLAY_ACCOUNT, prepare_replay
from keiba.app.serving import day_plan
from keiba.bankroll.audit import verify
from keiba.common.clock import JST
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import create_ledger_engine
from keiba.model_training.pipeline import LATEST_KEY
from keiba.scheduler import Journal, Step, StepKind, recorded_clock
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role
from keiba.serving.server import ServeError, settings_for

pytestmark = pytest.mark.slow
Headers = dict[str, str]


def frames(text: str) -> list[dict[str, Any]]:
    """The data of each `day` event of a stream."""
    found = []
    for frame in text.split("\n\n"):
        if frame.startswith("event: day"):
            found.append(json.loads(frame.split("data: ", 1)[1]))
    return found


@contextmanager
def served(settings: ServeSettings) -> Iterator[tuple[TestClient, Headers, Headers]]:
    """The app on `settings`, and a viewer's and an operator's headers."""
    settings.throttle = FailureThrottle(limit=1_000_000)
    _, viewer = settings.tokens.create("viewer", Role.VIEWER)
    _, operator = settings.tokens.create("operator", Role.OPERATOR)
    with TestClient(create_app(settings)) as client:
        yield client, bearer(viewer), bearer(operator)


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def test_serving_a_replay_needs_one_never_decides_and_lists_its_model(
    replay_home: tuple[KeibaConfig, dt.date],
) -> None:
    config, day = replay_home
    with pytest.raises(KeibaError, match=f"there is no replay of {day}"):
        settings_for(config, "main", replay=day)
    prepared = prepare_replay(config, day)
    with pytest.raises(ServeError, match="cannot serve a replay"):
        settings_for(config, "main", replay=day, decide=True)
    latest = json.loads(prepared.model_store.get(LATEST_KEY))["version"]
    with served(settings_for(config, "main", replay=day)) as (client, viewer, _):
        models = client.get("/models", headers=viewer).json()["items"]
        other_day = client.get(f"/days/{day + dt.timedelta(days=1)}/plan", headers=viewer)
    assert [(m["version"], m["latest"]) for m in models] == [(latest, True)]
    assert other_day.status_code == 404 and "watches the replay of" in other_day.json()["error"]


def test_the_stream_follows_the_replay_as_it_runs_on_the_replays_clock(
    replay_home: tuple[KeibaConfig, dt.date],
) -> None:
    config, day = replay_home
    prepared = prepare_replay(config, day)
    settings = settings_for(config, "main", replay=day)
    assert settings.account == REPLAY_ACCOUNT and settings.replay is not None
    gate = Gate()

    async def one_step(_: float) -> None:  # between two reads of the stream, the replay steps
        await asyncio.to_thread(gate.step)

    with served(settings) as (client, viewer, _):
        me = client.get("/whoami", headers=viewer).json()
        assert me["replay"] == {"dataset": config.storage.dataset, "race_date": day.isoformat()}
        settings.stream_polls = 1
        before = frames(client.get("/events", headers=viewer, params={"date": str(day)}).text)[0]
        assert before["planned"] is False and before["replay"]["race_date"] == day.isoformat()

        settings.sleep, settings.stream_polls = one_step, 200
        replaying = start_replay(prepared, day, gate)
        gate.step(0)  # the replay waits at its first sleep
        stream = client.get("/events", headers=viewer)  # the day: the replay clock's
        run = replaying.join()
        seen = frames(stream.text)
        plan = day_plan(settings.config, day, settings.replay.journal)

    seen = [f for f in seen if f["planned"]]
    assert gate.sleeps + 1 >= len(seen) > 5, (gate.sleeps, len(seen))  # one per step at most
    decisions = {
        s.race_id: s.due for s in _steps(settings.replay.journal) if s.kind is StepKind.DECIDE
    }
    lead = dt.timedelta(seconds=config.race_day.decision_lead_s)
    clocks = []
    for frame in seen:
        now = dt.datetime.fromisoformat(frame["now"])
        assert frame["replay"]["clock"] == frame["now"]  # read while the replay waited
        assert now.astimezone(JST).date() == day  # the replay's time, not the wall clock's
        clocks.append(now)
        for race in frame["races"]:
            if race["state"] not in ("waiting", "running"):  # decided: on the replay's clock
                assert now >= decisions[race["race_id"]], (now, race)
            assert dt.datetime.fromisoformat(race["closes_at"]) == decisions[race["race_id"]] + lead
    assert clocks == sorted(clocks) and clocks[0] < min(decisions.values()) < clocks[-1]
    for race_id, outcome in run.outcomes.items():
        history = [r["state"] for f in seen for r in f["races"] if r["race_id"] == race_id]
        assert history[0] == "waiting" and "running" in history, history
        assert history[-1] == outcome.outcome.value
    final = {r["race_id"]: r["outcome"] for r in plan["races"]}
    assert final == {k: o.outcome.value for k, o in run.outcomes.items()}


def _steps(journal: Path) -> list[Step]:
    opened = Journal(journal)
    try:
        plan = opened.plan()
        assert plan is not None
        return list(plan.steps)
    finally:
        opened.close()


def test_an_operator_resumes_a_replay_the_monitor_stopped(
    replay_home: tuple[KeibaConfig, dt.date],
) -> None:
    config, day = replay_home
    prepared = prepare_replay(config, day)
    assert prepared.recorded.first_fetch is not None
    inject_stop(prepared.config, prepared.run_dir, prepared.recorded.first_fetch)
    settings = settings_for(config, "main", replay=day)
    gate = Gate(hold_while=lambda: held_by_the_monitor(settings, day))
    gate.run_free()
    with served(settings) as (client, viewer, operator):
        replaying = start_replay(prepared, day, gate)
        plan: dict[str, Any] = {}
        for _ in range(int(PATIENCE_S / 0.05)):
            plan = client.get(f"/days/{day}/plan", headers=viewer).json()
            if client.get("/monitor", headers=viewer).json()["stopped"] and any(
                (r["reason"] or "").startswith("monitor: ") for r in plan["races"]
            ):
                break
            assert replaying.thread.is_alive(), gate.failed
            replaying.thread.join(0.05)
        first, *rest = plan["races"]
        assert first["outcome"] == "skipped" and first["reason"].startswith("monitor: ")
        assert all(r["outcome"] is None for r in rest)  # the replay waits for the operator
        at = settings.clock.now()
        for action, paused in (("pause", True), ("resume", False)):  # the replay's journal
            done = client.post(f"/days/{day}/{action}", headers=operator, json={"reason": "look"})
            assert done.status_code == 200 and done.json()["paused"] is paused, done.text
            assert _paused(prepared.run_dir / "journal.sqlite") is paused

        answer = client.post("/monitor/resume", headers=operator, json={"reason": "reviewed"})
        assert answer.status_code == 200, answer.text
        run = replaying.join()
        events = client.get("/monitor/events", headers=viewer).json()["items"]

    for race_id, outcome in run.outcomes.items():
        if race_id != first["race_id"]:
            assert outcome.outcome.value in ("bought", "passed"), outcome
            assert not outcome.reason.startswith("monitor: ")
    kinds = [(e["kind"], e.get("action")) for e in events]
    assert ("operator", "resume_buying") in kinds and ("resume", None) in kinds
    assert {("operator", "pause_day"), ("operator", "resume_day")} <= set(kinds)
    resume = next(e for e in events if e["kind"] == "resume")
    assert resume["operator"] == "operator" and resume["reason"] == "reviewed"
    assert dt.datetime.fromisoformat(resume["at"]) == at  # stamped on the replay's clock
    assert verify(create_ledger_engine(settings.config.ledger_url)).ok


def first_event(client: httpx.Client) -> dict[str, Any]:
    with client.stream("GET", "/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                found: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return found
    raise AssertionError("the stream sent no event")


def test_keiba_serve_replay_reads_a_running_replay_from_its_own_process(
    replay_home: tuple[KeibaConfig, dt.date],
) -> None:
    config, day = replay_home
    prepared = prepare_replay(config, day)
    gate = Gate()
    replaying = start_replay(prepared, day, gate)
    gate.step(0)
    journal = prepared.run_dir / "journal.sqlite"
    while not _planned(journal):
        gate.step()
    made = keiba(config.home, "token", "create", "--name", "v", "--role", "viewer", "--json")
    headers = bearer(json.loads(made)["token"])
    args = ("--replay", "--date", str(day), "--dataset", config.storage.dataset)
    with (
        serve_process(config.home, *args, patience_s=PATIENCE_S) as base,
        httpx.Client(base_url=base, headers=headers, timeout=30) as client,
    ):
        early = first_event(client)
        assert early["now"] == early["replay"]["clock"]
        assert dt.datetime.fromisoformat(early["now"]) == recorded_clock(journal)
        assert {r["state"] for r in early["races"]} == {"waiting"}
        run = replaying.join()
        late = first_event(client)
        plan = client.get(f"/days/{day}/plan").json()
        balance = client.get("/bankroll").json()
    assert (
        dt.datetime.fromisoformat(late["now"])
        == recorded_clock(journal)
        > dt.datetime.fromisoformat(early["now"])
    )
    outcomes = {k: o.outcome.value for k, o in run.outcomes.items()}
    assert {r["race_id"]: r["state"] for r in late["races"]} == outcomes
    assert {r["race_id"]: r["outcome"] for r in plan["races"]} == outcomes
    assert balance["account"] == REPLAY_ACCOUNT and balance["cash_yen"] == run.balance_yen


def _planned(journal: Path) -> bool:
    opened = Journal(journal)
    try:
        return opened.plan() is not None
    finally:
        opened.close()


def _paused(journal: Path) -> bool:
    opened = Journal(journal)
    try:
        return opened.pause().paused
    finally:
        opened.close()

"""Every route of the API × every role, from the app's own route table: a route added without
a case here fails `test_every_route_has_a_case`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from served_home import ACCOUNT, Served, TestClient

from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role


@dataclass(frozen=True)
class Case:
    role: Role
    url: str
    body: dict[str, Any] | None = None


def cases(s: Served) -> dict[tuple[str, str], Case]:
    """(method, path) → the role it needs and a request that succeeds with that role, in an
    order in which the operator's actions succeed one after another."""
    day = s.day.isoformat()
    race_id = s.morning.day.races[6].race_id
    listed = (s.home / "manual" / f"tickets-{s.day:%Y%m%d}.csv").read_bytes()
    version = s.client.get("/models", headers=s.auth(Role.VIEWER)).json()["items"][0]["version"]
    v, o = Role.VIEWER, Role.OPERATOR
    return {
        ("GET", "/health"): Case(v, "/health"),
        ("GET", "/whoami"): Case(v, "/whoami"),
        ("GET", "/events"): Case(v, f"/events?date={day}"),
        ("GET", "/ready"): Case(v, "/ready"),
        ("GET", "/openapi.json"): Case(v, "/openapi.json"),
        ("GET", "/races"): Case(v, f"/races?date={day}"),
        ("GET", "/races/{race_id}"): Case(
            v, f"/races/{race_id}?at={quote(s.morning.at.isoformat())}"
        ),
        ("GET", "/days/{day}/plan"): Case(v, f"/days/{day}/plan"),
        ("POST", "/days/{day}/pause"): Case(o, f"/days/{day}/pause", {"reason": "check"}),
        ("POST", "/days/{day}/resume"): Case(o, f"/days/{day}/resume", {"reason": "fine"}),
        ("GET", "/bankroll"): Case(v, "/bankroll"),
        ("GET", "/ledger/entries"): Case(v, "/ledger/entries?limit=1"),
        ("GET", "/ledger/tickets"): Case(v, "/ledger/tickets"),
        ("GET", "/ledger/settlements"): Case(v, "/ledger/settlements"),
        ("GET", "/monitor"): Case(v, "/monitor"),
        ("GET", "/monitor/events"): Case(v, "/monitor/events"),
        ("POST", "/monitor/resume"): Case(o, "/monitor/resume", {"reason": "reviewed"}),
        ("GET", "/manual/{day}/tickets"): Case(v, f"/manual/{day}/tickets"),
        ("POST", "/manual/{day}/approve"): Case(
            o, f"/manual/{day}/approve", {"sha256": hashlib.sha256(listed).hexdigest()}
        ),
        ("GET", "/models"): Case(v, "/models"),
        ("GET", "/models/{version}/evaluations"): Case(v, f"/models/{version}/evaluations"),
        ("GET", "/backtests"): Case(v, "/backtests"),
        ("GET", "/backtests/{run_id}"): Case(v, f"/backtests/{s.run_id}"),
    }


def routes(s: Served) -> set[tuple[str, str]]:
    found = set()
    for route in s.client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute):
            found |= {(method, route.path) for method in route.methods}
    return found


def call(s: Served, case: Case, role: Role | None) -> Any:
    method = "POST" if case.body is not None else "GET"
    return s.client.request(method, case.url, json=case.body, headers=s.auth(role))


def test_every_route_has_a_case(served: Served) -> None:
    assert routes(served) == set(cases(served))


def test_without_a_token_every_route_is_401(served: Served) -> None:
    for key, case in cases(served).items():
        answer = call(served, case, None)
        assert answer.status_code == 401, key
        assert answer.json() == {"error": "a valid bearer token is needed"}
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_bad_or_unknown_token_is_401(served: Served) -> None:
    viewer = served.viewer
    for token in (viewer[:-1] + ("A" if viewer[-1] != "A" else "B"), "kb_00000000_x", "nonsense"):
        answer = served.client.get("/health", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token
    basic = served.client.get("/health", headers={"Authorization": f"Basic {viewer}"})
    assert basic.status_code == 401


def test_a_viewer_cannot_act(served: Served) -> None:
    acting = {k: c for k, c in cases(served).items() if c.role is Role.OPERATOR}
    assert len(acting) == 4
    for key, case in acting.items():
        answer = call(served, case, Role.VIEWER)
        assert answer.status_code == 403, key
        assert answer.json() == {"error": "this needs the operator role"}


def test_every_route_answers_its_role_and_the_operator(served: Served) -> None:
    """Each case with its own role, then (reads only) with the operator's token too."""
    for key, case in cases(served).items():
        answer = call(served, case, case.role)
        assert answer.status_code == 200, (key, answer.text)
        if case.role is Role.VIEWER:
            assert call(served, case, Role.OPERATOR).status_code == 200, key


TASK_ROUTES = {
    ("POST", "/races/{race_id}/decide"): Role.DECIDER,
    ("POST", "/races/{race_id}/settle"): Role.DECIDER,
    ("POST", "/events/raw-page"): Role.INGESTER,
}
"""The routes `--decide` and `--ingest-events` add, and the role each needs."""


def test_every_route_of_the_tasks_and_events_needs_its_role(served: Served) -> None:
    """Served with `--decide` and `--ingest-events`: the routes beyond the cases above are the
    queued tasks' and Eventarc's, and a viewer is refused by each (no token: 401)."""

    def no_day(day: object) -> Any:
        raise AssertionError(f"no race day is to be set up for {day}")

    settings = ServeSettings(
        served.config,
        served.settings.tokens,
        ACCOUNT,
        throttle=FailureThrottle(limit=1_000_000),
        clock=served.settings.clock,
        decide=no_day,
        ingest_events=True,
    )
    race_id = served.morning.day.races[0].race_id
    with TestClient(create_app(settings)) as client:
        table = {
            (method, route.path)
            for route in client.app.routes  # type: ignore[attr-defined]
            if isinstance(route, APIRoute)
            for method in route.methods
        }
        assert table - set(cases(served)) == set(TASK_ROUTES)
        for (method, path), role in TASK_ROUTES.items():
            url = path.replace("{race_id}", race_id)
            assert client.request(method, url).status_code == 401, path
            answer = client.request(method, url, headers=served.auth(Role.VIEWER))
            assert answer.status_code == 403, path
            assert answer.json() == {"error": f"this needs the {role.value} role"}

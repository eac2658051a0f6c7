"""The live stream `/events`: the day's race states as server-sent events, sent when they change,
a bounded number of streams, and `/whoami`; the dashboard's pages are served without a token."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

from served_home import Served, TestClient

from keiba.app.serving import pause_day
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import Role


def frames(text: str) -> list[tuple[str, Any]]:
    """(event, data) of each frame; comment frames as ("comment", the comment)."""
    found: list[tuple[str, Any]] = []
    for frame in text.split("\n\n"):
        if frame.startswith(":"):
            found.append(("comment", frame[1:].strip()))
        elif frame:
            fields = dict(line.split(": ", 1) for line in frame.splitlines())
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def app_with(
    s: Served, sleep: Callable[[float], Awaitable[None]], polls: int, max_streams: int = 16
) -> TestClient:
    settings = ServeSettings(
        s.config,
        s.settings.tokens,
        s.settings.account,
        throttle=s.settings.throttle,
        clock=s.settings.clock,
        sleep=sleep,
        stream_interval_s=5.0,
        stream_polls=polls,
        max_streams=max_streams,
    )
    return TestClient(create_app(settings))


def test_a_stream_sends_the_day_again_when_it_changes(served: Served) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:  # between the first and the second read: an operator pauses
            pause_day(served.config, "main", served.settings.clock, served.day, paused=True,
                      operator="alice", reason="odds feed down")  # fmt: skip

    with app_with(served, sleep, polls=3) as client:
        answer = client.get(f"/events?date={served.day}", headers=served.auth(Role.VIEWER))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    sent = frames(answer.text)
    assert [kind for kind, _ in sent] == ["day", "day", "comment"]
    before, after = sent[0][1], sent[1][1]
    assert before["paused"] is False and after["paused"] is True
    assert after["paused_by"] == "alice" and after["pause_reason"] == "odds feed down"
    assert after["now"] == served.settings.clock.now().isoformat()
    assert waits == [5.0, 5.0, 5.0]
    races = {r["race_id"]: r for r in before["races"]}
    assert len(races) == 3
    for race in races.values():
        post = dt.datetime.fromisoformat(race["post_time"])
        closes = dt.datetime.fromisoformat(race["closes_at"])
        assert post - closes == dt.timedelta(seconds=served.config.race_day.close_lead_s)
        assert race["state"] in {"waiting", "running"}
    pause_day(served.config, "main", served.settings.clock, served.day, paused=False,
              operator="alice", reason="back")  # fmt: skip


async def no_wait(_: float) -> None:
    return None


def test_a_day_without_a_journal_says_so_and_today_is_the_clocks(served: Served) -> None:
    with app_with(served, no_wait, polls=1) as client:
        other = client.get("/events?date=2001-01-01", headers=served.auth(Role.VIEWER))
        today = client.get("/events", headers=served.auth(Role.VIEWER))
    (kind, day), *_ = frames(other.text)
    assert kind == "day" and day["planned"] is False and "no race-day journal" in day["error"]
    assert frames(today.text)[0][1]["race_date"] == served.day.isoformat()


def test_streams_are_bounded_and_give_their_slot_back(served: Served) -> None:
    with app_with(served, no_wait, polls=1, max_streams=1) as client:
        slots = client.app.state.streams  # type: ignore[attr-defined]
        assert client.get("/events", headers=served.auth(Role.VIEWER)).status_code == 200
        assert slots.open == 0
        give_back = slots.take()
        assert give_back is not None and slots.take() is None
        refused = client.get("/events", headers=served.auth(Role.VIEWER))
        assert refused.status_code == 503 and refused.headers["retry-after"] == "30"
        assert refused.json() == {"error": "too many live streams are open"}
        give_back()
        give_back()
        assert slots.open == 0


def test_whoami_names_the_token_and_its_role(served: Served) -> None:
    assert served.client.get("/whoami", headers=served.auth(Role.VIEWER)).json() == {
        "name": "viewer",
        "role": "viewer",
        "replay": None,  # the live day is served
    }
    me = served.client.get("/whoami", headers=served.auth(Role.OPERATOR)).json()
    assert me["role"] == "operator"


def test_the_pages_need_no_token_and_hold_no_data(served: Served) -> None:
    for path in ("/dashboard/", "/dashboard/login.html", "/dashboard/dashboard.js"):
        answer = served.client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-security-policy"].startswith("default-src 'self'")
        assert "<script>" not in answer.text and "style=" not in answer.text
        assert answer.headers["cache-control"] == "no-cache"
    font = served.client.get("/dashboard/fonts/ipaexg.ttf")
    assert font.status_code == 200 and font.content[:4] == b"\x00\x01\x00\x00"
    assert served.client.get("/dashboard/%2e%2e/auth.py").status_code == 404
    assert served.client.get("/bankroll").headers["cache-control"] == "no-store"

"""The race-day dashboard: its static pages, who is asking, and the day's live states.

The pages, scripts and styles under `static/` hold no data and are served without a token at
`/dashboard/`; every figure they show comes from the API with the bearer token the person
pasted into the login page. `GET /whoami` tells a page the token's name and role (a viewer's
page shows no operator controls). `GET /events` streams the day's race states as server-sent
events: the server reads the day's journal every `stream_interval_s` and sends an event when
something changed (a comment line otherwise, which also tells it when the client has gone).
Serving a replay, the stream reads the replay's journal, written by the replay's process, and
its clock is part of what changes: each event carries where the replay's clock stands.
A stream ends after `stream_polls` polls (the page opens a new one, so a revoked token stops
it) and at most `max_streams` are open at once.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Scope

from keiba.app.serving import NotFoundError
from keiba.common.clock import JST
from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import NetkeibaRaceId
from keiba.scheduler import StepState
from keiba.serving import models as m
from keiba.serving.app import ServeSettings, require
from keiba.serving.auth import Principal, Role

__all__ = ["STATIC", "Assets", "StreamSlots", "day_snapshot", "register_dashboard"]

STATIC = Path(__file__).parent / "static"
"""The dashboard's pages, script, styles and the vendored chart library (package data)."""
FONT_PACKAGE = "japanize_matplotlib"
"""Ships IPAexGothic (IPA Font License): the pages' Japanese on a device without a Japanese
font. The browser fetches it only for characters no font of its own can draw."""

Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]


class Assets(StaticFiles):
    """Files without data: the browser may keep them and ask again whether they changed."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["cache-control"] = "no-cache"
        return response


def _fonts() -> Path | None:
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    fonts = Path(spec.origin).parent / "fonts"
    return fonts if fonts.is_dir() else None


class StreamSlots:
    """At most `limit` live streams at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> Callable[[], None] | None:
        """A slot, as the function that gives it back (once, however often it is called),
        or None when all are taken."""
        with self._lock:
            if self.open >= self.limit:
                return None
            self.open += 1
        given_back = threading.Event()

        def give_back() -> None:
            with self._lock:
                if not given_back.is_set():
                    given_back.set()
                    self.open -= 1

        return give_back


def _state(race: dict[str, Any]) -> str:
    """A race's state on the timeline: its outcome once it has one, else whether any of its
    steps has begun."""
    if race["outcome"]:
        return str(race["outcome"])
    counts: dict[str, int] = race["step_counts"]
    return "waiting" if set(counts) <= {StepState.PLANNED.value} else "running"


def _race_key(netkeiba_id: str, day: dt.date) -> str | None:
    """The 16-digit race id the API's race routes take, from the journal's netkeiba id."""
    try:
        return str(NetkeibaRaceId.parse(netkeiba_id).to_race_key(day))
    except InvalidRaceIdError:
        return None


def day_snapshot(settings: ServeSettings, day: dt.date) -> dict[str, Any]:
    """The day's race states as the stream sends them (without the time of sending)."""
    try:
        plan = settings.reads.plan(day)
    except NotFoundError as e:
        found = {"race_date": day.isoformat(), "planned": False, "paused": False, "error": str(e)}
        if settings.replay is not None:
            found["replay"] = settings.replay.banner()
        return found
    close_lead = dt.timedelta(seconds=settings.config.race_day.close_lead_s)
    races = [
        {
            "race_id": r["race_id"],
            "key": _race_key(r["race_id"], day),
            "venue": r["venue"],
            "race_no": r["race_no"],
            "post_time": r["post_time"],
            "closes_at": r["post_time"] - close_lead,
            "state": _state(r),
            "reason": r["reason"],
        }
        for r in plan["races"]
    ]
    keep = ("planned", "paused", "paused_by", "pause_reason", "pause_at")
    found = {"race_date": day.isoformat(), **{k: plan[k] for k in keep}, "races": races}
    if settings.replay is not None:  # its clock moves only as the replay runs: part of the news
        found["replay"] = {**settings.replay.banner(), "clock": settings.clock.now()}
    encoded: dict[str, Any] = jsonable_encoder(found)
    return encoded


def _frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _day_events(
    request: Request, settings: ServeSettings, day: dt.date, release: Callable[[], None]
) -> AsyncIterator[str]:
    try:
        last: dict[str, Any] | None = None
        for _ in range(settings.stream_polls):
            if await request.is_disconnected():
                break
            snapshot = await run_in_threadpool(day_snapshot, settings, day)
            if snapshot != last:
                yield _frame("day", {**snapshot, "now": settings.clock.now().isoformat()})
                last = snapshot
            else:
                yield ": unchanged\n\n"
            await settings.sleep(settings.stream_interval_s)
    finally:
        release()


def _routes(app: FastAPI) -> None:
    @app.get("/whoami", response_model=m.WhoAmI, tags=["meta"])
    def whoami(request: Request, who: Viewer) -> dict[str, Any]:
        """The token's name and role (the dashboard shows operators their controls), and the
        replay served, if it is one (the dashboard shows a banner)."""
        replay = request.app.state.settings.replay
        banner = None if replay is None else replay.banner()
        return {"name": who.name, "role": who.role.value, "replay": banner}

    @app.get(
        "/events",
        tags=["race day"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def events(
        request: Request,
        _: Viewer,
        date: Annotated[dt.date | None, Query(description="The race day (default: today)")] = None,
    ) -> StreamingResponse:
        """The day's race states as server-sent events (`event: day`), sent when they change."""
        settings: ServeSettings = request.app.state.settings
        slots: StreamSlots = request.app.state.streams
        day = date or settings.clock.now().astimezone(JST).date()
        give_back = slots.take()
        if give_back is None:
            raise HTTPException(503, "too many live streams are open", {"Retry-After": "30"})
        # the stream gives its slot back when it ends; the task also when it never began
        return StreamingResponse(
            _day_events(request, settings, day, give_back),
            media_type="text/event-stream",
            background=BackgroundTask(give_back),
        )


def register_dashboard(app: FastAPI) -> None:
    """The pages at /dashboard/, `/whoami` and the live stream `/events`."""
    settings: ServeSettings = app.state.settings
    app.state.streams = StreamSlots(settings.max_streams)
    _routes(app)
    fonts = _fonts()
    if fonts is not None:
        app.mount("/dashboard/fonts", Assets(directory=fonts), name="dashboard-fonts")
    app.mount("/dashboard", Assets(directory=STATIC, html=True), name="dashboard")

"""The API's routes: each parses its input, calls one `keiba.app.serving` function and returns it.

Viewers read; operators also act (resume after a monitor stop, pause and resume the day,
approve a manual ticket list), each action written to the audit chain by the function it calls.
The reads the server keeps (`ServingReads`) are answered in the event loop when their answer is
kept, and read in a worker thread when it is not; every other route runs in a worker thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from keiba.app import serving as reads
from keiba.app.decide_tasks import decide_live_race, settle_live_race
from keiba.app.raw_events import ingest_stored_object, parse_storage_event
from keiba.app.serving import BusyError, NotKept, only_kept
from keiba.common.logging import get_logger
from keiba.scheduler import RaceSettlement, Settlement
from keiba.serving import models as m
from keiba.serving.app import ServeSettings, require
from keiba.serving.auth import Principal, Role

__all__ = ["MAX_LIMIT", "register"]

MAX_LIMIT = 500
log = get_logger(__name__)
T = TypeVar("T")

Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Decider = Annotated[Principal, Depends(require(Role.DECIDER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Ingester = Annotated[Principal, Depends(require(Role.INGESTER))]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
Offset = Annotated[int, Query(ge=0, description="Items to skip")]
Day = Annotated[dt.date, Path(description="The race day, YYYY-MM-DD")]
RaceId = Annotated[str, Path(pattern=r"^\d{16}$", description="YYYYMMDDJJKKNNRR")]


def _settings(request: Request) -> ServeSettings:
    settings: ServeSettings = request.app.state.settings
    return settings


async def _kept(read: Callable[[], T]) -> T:
    """`read()` at once when the server keeps its answer, else in a worker thread (it reads a
    store, which the event loop must not wait for)."""
    try:
        with only_kept():
            return read()
    except NotKept:
        return await run_in_threadpool(read)


def _page(items: Sequence[T], limit: int, offset: int) -> dict[str, Any]:
    end = offset + limit
    return {
        "items": list(items[offset:end]),
        "limit": limit,
        "offset": offset,
        "total": len(items),
        "next_offset": end if end < len(items) else None,
    }


def _meta(app: FastAPI) -> None:
    @app.get("/health", response_model=m.Health, tags=["meta"])
    async def health(_: Viewer) -> dict[str, Any]:
        """The server answers."""
        return {"status": "ok"}

    @app.get("/ready", response_model=m.Ready, tags=["meta"])
    def ready(request: Request, _: Viewer) -> dict[str, Any]:
        """Whether the ledger answers and the dataset exists."""
        return reads.readiness(_settings(request).config)


def _races(app: FastAPI) -> None:
    @app.get("/races", response_model=m.Page[m.Race], tags=["races"])
    async def races(
        request: Request,
        _: Viewer,
        date: Annotated[dt.date, Query(description="The race day, YYYY-MM-DD")],
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """The day's races with their runners and names."""
        s = _settings(request)
        return _page(await _kept(lambda: s.reads.races(date)), limit, offset)

    @app.get("/races/{race_id}", response_model=m.RaceDecision, tags=["races"])
    def race(
        request: Request,
        _: Viewer,
        race_id: RaceId,
        at: Annotated[dt.datetime | None, Query(description="As known at (default: now)")] = None,
    ) -> dict[str, Any]:
        """The race's latest odds, the model's, market's and combined probabilities, and
        Themis's decision with its reasons, as known at `at`."""
        s = _settings(request)
        when = at or s.clock.now()
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return s.reads.race(race_id, when, s.account)


def _day(app: FastAPI) -> None:
    @app.get("/days/{day}/plan", response_model=m.DayPlan, tags=["race day"])
    async def plan(
        request: Request,
        _: Viewer,
        day: Day,
        steps: Annotated[bool, Query(description="List every race's steps too")] = False,
    ) -> dict[str, Any]:
        """The day's plan from its journal: each race's outcome and step counts (its steps
        with `steps=true`), and whether the day is paused."""
        reads = _settings(request).reads
        plan = await _kept(lambda: reads.plan(day))
        if steps:
            return plan
        return {**plan, "races": [{**r, "steps": []} for r in plan["races"]]}

    @app.post("/days/{day}/pause", response_model=m.DayPlan, tags=["race day"])
    def pause(request: Request, who: Operator, day: Day, body: m.Reason) -> dict[str, Any]:
        """Pause the day: no decision is made until it is resumed (polls and settling go on)."""
        s = _settings(request)
        return reads.pause_day(
            s.config, s.account, s.clock, day, paused=True, operator=who.name, reason=body.reason,
            journal_file=s.reads.journal_of(day),
        )  # fmt: skip

    @app.post("/days/{day}/resume", response_model=m.DayPlan, tags=["race day"])
    def resume(request: Request, who: Operator, day: Day, body: m.Reason) -> dict[str, Any]:
        """Resume a paused day."""
        s = _settings(request)
        return reads.pause_day(
            s.config, s.account, s.clock, day, paused=False, operator=who.name, reason=body.reason,
            journal_file=s.reads.journal_of(day),
        )  # fmt: skip


def _ledger(app: FastAPI) -> None:
    @app.get("/bankroll", response_model=m.Balance, tags=["ledger"])
    async def bankroll(request: Request, _: Viewer) -> dict[str, Any]:
        """The account's cash, reserved and available yen."""
        s = _settings(request)
        return await _kept(lambda: s.reads.balance(s.account))

    @app.get("/ledger/entries", response_model=m.LedgerPage, tags=["ledger"])
    async def entries(
        request: Request,
        _: Viewer,
        limit: Limit = 100,
        before_seq: Annotated[int | None, Query(ge=1, description="Cursor: older than")] = None,
    ) -> dict[str, Any]:
        """The account's ledger entries, newest first."""
        s = _settings(request)
        rows = await _kept(lambda: s.reads.entries(s.account))
        if before_seq is not None:
            rows = [r for r in rows if int(r["seq"]) < before_seq]
        more = len(rows) > limit
        rows = list(reversed(rows[-limit:]))
        return {
            "items": rows,
            "limit": limit,
            "next_before_seq": int(rows[-1]["seq"]) if more else None,
        }

    @app.get("/ledger/tickets", response_model=m.Page[m.LedgerTicket], tags=["ledger"])
    async def tickets(
        request: Request,
        _: Viewer,
        state: Annotated[str | None, Query(max_length=20)] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """The account's bets (tickets), oldest first; `state` selects one state."""
        s = _settings(request)
        return _page(await _kept(lambda: s.reads.tickets(s.account, state)), limit, offset)

    @app.get("/ledger/settlements", response_model=m.Page[m.LedgerTicket], tags=["ledger"])
    async def settlements(
        request: Request, _: Viewer, limit: Limit = 100, offset: Offset = 0
    ) -> dict[str, Any]:
        """The account's settled tickets with their payouts, oldest first."""
        s = _settings(request)
        return _page(await _kept(lambda: s.reads.tickets(s.account, "settled")), limit, offset)


def _monitor(app: FastAPI) -> None:
    @app.get("/monitor", response_model=m.MonitorState, tags=["monitor"])
    async def monitor(request: Request, _: Viewer) -> dict[str, Any]:
        """Drawdown, tier, and whether the monitor has stopped buying."""
        s = _settings(request)
        return await _kept(lambda: s.reads.monitor_state(s.account))

    @app.get("/monitor/events", response_model=m.Page[m.MonitorEvent], tags=["monitor"])
    async def events(
        request: Request, _: Viewer, limit: Limit = 100, offset: Offset = 0
    ) -> dict[str, Any]:
        """The monitor's records and alerts in the audit chain (tiers, stops, resumes,
        operator actions), newest first."""
        s = _settings(request)
        found = list(reversed(await _kept(lambda: s.reads.monitor_events(s.account))))
        return _page(found, limit, offset)

    @app.post("/monitor/resume", response_model=m.ResumeResult, tags=["monitor"])
    def resume(request: Request, who: Operator, body: m.Reason) -> dict[str, Any]:
        """Lift the monitor's latched stop."""
        s = _settings(request)
        return reads.resume_after_stop(s.config, s.account, s.clock, who.name, body.reason)


def _manual(app: FastAPI) -> None:
    @app.get("/manual/{day}/tickets", response_model=m.ManualTickets, tags=["manual"])
    def manual(request: Request, _: Viewer, day: Day) -> dict[str, Any]:
        """The day's ticket list for a person to buy, with its SHA-256."""
        return reads.manual_tickets(_settings(request).config, day)

    @app.post("/manual/{day}/approve", response_model=m.ManualTickets, tags=["manual"])
    def approve(request: Request, who: Operator, day: Day, body: m.Approval) -> dict[str, Any]:
        """Approve exactly the list read (named by its SHA-256), in the audit chain."""
        s = _settings(request)
        return reads.approve_manual_tickets(
            s.config, s.account, s.clock, day, body.sha256, who.name
        )


def _results(app: FastAPI) -> None:
    @app.get("/models", response_model=m.Page[m.ModelVersion], tags=["models"])
    async def models(
        request: Request, _: Viewer, limit: Limit = 100, offset: Offset = 0
    ) -> dict[str, Any]:
        """The stored model versions, newest first."""
        return _page(await _kept(_settings(request).reads.models), limit, offset)

    @app.get(
        "/models/{version}/evaluations", response_model=list[m.ModelEvaluation], tags=["models"]
    )
    def evaluations(
        request: Request, _: Viewer, version: Annotated[str, Path(max_length=100)]
    ) -> list[dict[str, Any]]:
        """The training and evaluation runs of a model version, with their metrics."""
        return reads.model_evaluations(_settings(request).config, version)

    @app.get("/backtests", response_model=m.Page[m.BacktestRun], tags=["backtests"])
    async def backtests(
        request: Request, _: Viewer, limit: Limit = 100, offset: Offset = 0
    ) -> dict[str, Any]:
        """The backtest runs, newest first."""
        return _page(await _kept(_settings(request).reads.backtests), limit, offset)

    @app.get("/backtests/{run_id}", response_model=m.BacktestReport, tags=["backtests"])
    def backtest(
        request: Request, _: Viewer, run_id: Annotated[str, Path(max_length=200)]
    ) -> dict[str, Any]:
        """A run's strategies (bets, stakes, returns, drawdown) and its caveats."""
        return reads.backtest_report(_settings(request).config, run_id)


def _decide(app: FastAPI) -> None:
    @app.post("/races/{race_id}/decide", response_model=m.Decided, tags=["race day"])
    def decide(request: Request, who: Decider, race_id: RaceId) -> dict[str, Any]:
        """Decide the race now (a queued task's call at its decision time): card, odds,
        Themis, the purchase, journal and ledger, as the race day does. Called again, it buys
        nothing and answers the recorded outcome. 503 before the decision is due, or while a
        block of the source puts it off."""
        s = _settings(request)
        assert s.decide is not None
        with s.write_lock, s.reads.exclusive():
            outcome = decide_live_race(s.decide, race_id)
        if outcome is None:
            raise BusyError(f"race {race_id} is not decided yet: not due, or put off by a block")
        log.info("serve.decided", race_id=race_id, by=who.name, outcome=outcome.outcome.value)
        return {"race_id": race_id, "outcome": outcome.outcome.value, "reason": outcome.reason}


def _settle(app: FastAPI) -> None:
    @app.post(
        "/races/{race_id}/settle",
        response_model=m.Settled,
        responses={503: {"model": m.ErrorBody, "description": "Not due or not official yet"}},
        tags=["race day"],
    )
    def settle(request: Request, who: Decider, race_id: RaceId) -> dict[str, Any]:
        """Settle the race now (a queued task's call after the race, retried by the queue):
        its next try at the official result, and once official its tickets paid in the
        ledger, as the race day does. 200 once settled, failed (no official result by the
        deadline) or with nothing to settle; called again, it settles nothing and answers
        the same. 503 with Retry-After before the first try is due, and while the result is
        not official (or under inquiry)."""
        s = _settings(request)
        assert s.decide is not None
        with s.write_lock, s.reads.exclusive():
            done = settle_live_race(s.decide, race_id)
        if done.state in (Settlement.PENDING, Settlement.NOT_DUE):
            wait = 30 if done.retry_at is None else (done.retry_at - s.clock.now()).total_seconds()
            raise BusyError(f"race {race_id} is not settled yet: {done.reason}", int(wait))
        log.info("serve.settled", race_id=race_id, by=who.name, state=done.state.value)
        return _settled(race_id, done)


def _settled(race_id: str, done: RaceSettlement) -> dict[str, Any]:
    tickets = done.detail.get("settled", [])
    return {
        "race_id": race_id,
        "state": done.state.value,
        "reason": done.reason,
        "tickets": len(tickets),
        "paid_yen": int(done.detail.get("paid_yen", 0)),
    }


def _events(app: FastAPI) -> None:
    @app.post("/events/raw-page", response_model=m.RawPageEvent, tags=["race day"])
    async def raw_page(request: Request, who: Ingester) -> dict[str, Any]:
        """A Cloud Storage object finalized (Eventarc's CloudEvent, binary mode): a raw page's
        index record is loaded into the warehouse, other objects of the bucket are ignored.
        Delivered again, it changes nothing."""
        s = _settings(request)
        stored = parse_storage_event(request.headers, await request.body())

        def ingest() -> dict[str, Any]:
            with s.write_lock, s.reads.exclusive():
                return ingest_stored_object(s.config, stored, s.clock)

        done = await run_in_threadpool(ingest)
        log.info("serve.event", event_id=stored.event_id, by=who.name, outcome=done["outcome"])
        return done


def register(app: FastAPI) -> None:
    for part in (_meta, _races, _day, _ledger, _monitor, _manual, _results):
        part(app)
    settings = _settings_of(app)
    if settings.decide is not None:
        _decide(app)
        _settle(app)
    if settings.ingest_events:
        _events(app)


def _settings_of(app: FastAPI) -> ServeSettings:
    settings: ServeSettings = app.state.settings
    return settings

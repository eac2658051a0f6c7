"""A race day, built from configuration: the source, the engine, the journal, the loop.

`run_race_day` plans the day from the race list (or resumes the journal's plan), then runs it:
per race the card, odds polled in bands, the decision at its lead before the close, the
settlement once the result is official (`keiba.scheduler`), every step carried out by the
netkeiba source and the engine (`keiba.scheduler.handlers`). Every race ends bought, passed,
skipped or failed, with the reason; the journal keeps that table, and a restarted run resumes
it without repeating or losing a decision or a purchase.

A day runs only the release in force for its dataset (`keiba.release`): the model version and
the Themis policy promoted, read from the ledger database's audit chain; without one every race
is skipped with the line that says how to promote. A simulated or replayed day (`auto_promote`)
promotes the model store's latest model with the configured policy itself, audited as such.
Before each decision the release guard may roll back to the release before (a drawdown tier
reached soon after a promotion); each decision runs the release in force at that moment. A
candidate set to run in shadow (`keiba release shadow`) decides every race beside it at the same
instant and buys nothing; its decisions go to `<journal>.shadow.jsonl` and beside the outcomes
in the table. A canary (`keiba release canary`) decides and buys the races its hash selects, the
release in force deciding those in shadow into `<journal>.canary.jsonl`.

What is plugged in is the only difference between a live day and a replayed one
(`RaceDaySetup`): the clock and sleeper (wall clock, or simulated time that jumps to the next
step), the collector's base URLs (netkeiba, or the local twin of a simulated day), the dataset,
the model store, the ledger, the journal and the broker (the configured one live, paper for a
twin or a replay).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keiba.app.bankroll import checkpoint_exporter
from keiba.app.day_release import DayRelease, day_release, start_shadow
from keiba.bankroll import Ledger
from keiba.bankroll.schema import TicketState
from keiba.common.bet_types import BetType
from keiba.common.clock import JST, Clock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.heap import settle_heap
from keiba.common.ids import NetkeibaRaceId
from keiba.common.logging import get_logger
from keiba.common.schema import DatasetKind
from keiba.common.secrets import secret_store_from_config
from keiba.common.storage import FsspecObjectStore, Warehouse, create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.object_store import ObjectStore
from keiba.data_collector.http_client import FetchError, HttpClient
from keiba.data_collector.netkeiba_pages import NetkeibaParseError
from keiba.data_collector.race_day import ClockSkew, NetkeibaRaceDay
from keiba.engine import RaceEngine
from keiba.execution import Broker, PaperBroker
from keiba.execution.brokers import rebuy_policy
from keiba.execution.channels import Channel
from keiba.feature_engineering import prepare_race_day
from keiba.model_training.pipeline import StoredModel
from keiba.monitor import Alert, AlertSink, MemorySink, Monitor, Severity, deliver
from keiba.monitor.monitor import sinks_from_config
from keiba.release import (
    ReleaseBook,
    ReleaseGuard,
)
from keiba.scheduler import (
    Journal,
    RaceOutcome,
    RaceSettlement,
    SimulatedTime,
    plan_day,
    races_from_list,
    run_day,
    run_decision,
    run_settlement,
)
from keiba.scheduler.handlers import EngineHandlers, RaceInputsAt
from keiba.scheduler.timeline import Plan
from keiba.themis import warm_up

__all__ = [
    "DayRun",
    "NoRacesError",
    "RaceDaySetup",
    "SimulatedDay",
    "decide_race",
    "fund_paper_ledger",
    "plan_race_day",
    "run_race_day",
    "settle_race",
]

log = get_logger(__name__)

Sleeper = Callable[[float], None]
InputsFactory = Callable[[Warehouse, StoredModel, tuple[BetType, ...]], RaceInputsAt]


@dataclass
class RaceDaySetup:
    """What a race day runs with; `live_setup` and the twin build one."""

    config: KeibaConfig
    """Its `collector` base URLs, `storage.dataset` and `race_day` section are used."""
    clock: Clock
    sleeper: Sleeper
    journal_path: Path
    ledger_url: str
    account: str
    model_store: ObjectStore
    inputs: InputsFactory
    kind: DatasetKind = "real"
    """The kind of races the source's pages describe (`simulated` for the twin)."""
    broker: Broker = field(default_factory=PaperBroker)
    failover: list[Channel] = field(default_factory=list)
    """Channels tried, in order, for a purchase proven absent (`execution.failover`)."""
    extra_sinks: list[AlertSink] = field(default_factory=list)
    auto_promote: str | None = None
    """Set (`twin`, `replay`): with no release in force, the model store's latest model is
    promoted with the configured policy, audited with this name as the reason."""
    settle_heap: bool = False
    """The day has the process to itself (`keiba run`): its heap is settled (`settle_heap`)
    once the day is set up (its features prepared) and again after its first decision, so no
    full collection of everything the process imported pauses a decision near its close."""


@dataclass
class DayRun:
    """A finished (or resumed and finished) race day: every race's outcome, and the alerts."""

    race_date: dt.date
    outcomes: dict[str, RaceOutcome]
    posts: dict[str, dt.datetime]
    journal: str
    ledger: str
    account: str
    model_version: str | None
    alerts: list[Alert]
    balance_yen: int
    release_id: str | None = None
    shadow: dict[str, dict[str, Any]] = field(default_factory=dict)
    """As `outcomes`: race → the shadow candidate's decision (`ReleaseShadow.row`), if one ran."""
    canary: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Race → the release in force's decision in shadow on each race a canary ran."""

    def rows(self) -> list[dict[str, Any]]:
        """The outcome table: one row per race in post-time order."""
        out = []
        for race_id, outcome in sorted(self.outcomes.items(), key=lambda kv: self.posts[kv[0]]):
            tickets = outcome.detail.get("tickets", []) if outcome.detail else []
            out.append(
                {
                    "race_id": race_id,
                    "post_time": self.posts[race_id].astimezone(JST).isoformat(),
                    "outcome": outcome.outcome.value,
                    "reason": outcome.reason,
                    "tickets": len(tickets),
                    "staked_yen": sum(int(t.get("stake_yen", 0)) for t in tickets),
                    **_shadow_columns(self.shadow, race_id),
                    **_canary_columns(self.canary, race_id),
                }
            )
        return out


def _by_plan_id(
    rows: dict[str, dict[str, Any]], posts: dict[str, dt.datetime], race_date: dt.date
) -> dict[str, dict[str, Any]]:
    """Rows keyed by race key, keyed as the plan names its races."""
    keys = {str(NetkeibaRaceId.parse(r).to_race_key(race_date)): r for r in posts}
    return {keys[k]: row for k, row in rows.items() if k in keys}


def _shadow_columns(shadow: dict[str, dict[str, Any]], race_id: str) -> dict[str, Any]:
    if not shadow:
        return {}
    row = shadow.get(race_id) or {}
    return {"shadow": row.get("status"), "shadow_staked_yen": row.get("staked_yen")}


def _canary_columns(canary: dict[str, dict[str, Any]], race_id: str) -> dict[str, Any]:
    if not canary:
        return {}
    row = canary.get(race_id)
    if row is None:
        return {"ran": "in force", "in_force_staked_yen": None}
    return {"ran": "canary", "in_force_staked_yen": row.get("staked_yen")}


def _skew_alert(alerts: list[AlertSink], clock: Clock) -> Callable[[ClockSkew], None]:
    seen: set[int] = set()

    def alert(skew: ClockSkew) -> None:
        bucket = round(skew.seconds / 60)
        if bucket in seen:  # once per minute of difference, not on every page
            return
        seen.add(bucket)
        deliver(
            Alert(
                "race_day.clock_skew",
                Severity.WARNING,
                f"the source's clock is {skew.seconds:+.0f} s from ours ({skew.url})",
                clock.now(),
                {"seconds": skew.seconds, "url": skew.url},
            ),
            alerts,
        )

    return alert


def fund_paper_ledger(url: str, account: str, clock: Clock, bankroll_yen: int, cause: str) -> None:
    """Open the paper ledger's account with `bankroll_yen` the first time (once)."""
    engine = create_ledger_engine(url)
    try:
        ledger = Ledger(engine, clock, account=account)
        if not ledger.history(limit=1):
            ledger.deposit(bankroll_yen, cause=cause)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class SimulatedDay:
    """A day played in simulated time from a local server (the twin, or recorded pages), in a
    folder of its own: journal, paper ledger (`account`, funded with `backtest.bankroll_yen`)."""

    config: KeibaConfig
    run_dir: Path
    account: str
    model_store: ObjectStore
    kind: DatasetKind
    inputs: InputsFactory
    funded_by: str
    """The cause of the paper ledger's first deposit."""

    @property
    def journal(self) -> Path:
        return self.run_dir / "journal.sqlite"

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.run_dir / 'ledger.sqlite'}"

    def time_from(self, start: dt.datetime) -> SimulatedTime:
        """Simulated time from `start`, or from where the journal stopped if it went further."""
        if self.journal.exists():
            with closing(Journal(self.journal)) as resumed:
                start = max(start, resumed.last_at() or start)
        return SimulatedTime(start)

    def setup(
        self,
        time: SimulatedTime,
        url: str,
        *,
        result_source: str = "race",
        broker: Broker | None = None,
        sinks: list[AlertSink] | None = None,
    ) -> RaceDaySetup:
        """The race day's setup with the collector pointed at the server at `url`."""
        fund_paper_ledger(
            self.ledger_url,
            self.account,
            time.clock,
            self.config.backtest.bankroll_yen,
            cause=self.funded_by,
        )
        collector = self.config.collector.model_copy(
            update={"race_base_url": url, "db_base_url": url, "result_source": result_source}
        )
        return RaceDaySetup(
            config=self.config.model_copy(update={"collector": collector}),
            clock=time.clock,
            sleeper=time.sleep,
            journal_path=self.journal,
            ledger_url=self.ledger_url,
            account=self.account,
            model_store=self.model_store,
            inputs=self.inputs,
            kind=self.kind,
            broker=broker or PaperBroker(),
            extra_sinks=list(sinks or []),
        )


@contextmanager
def _ledger(setup: RaceDaySetup) -> Iterator[Ledger]:
    engine = create_ledger_engine(setup.ledger_url)
    try:
        exporter = checkpoint_exporter(setup.config, setup.ledger_url)
        yield Ledger.existing(engine, setup.clock, setup.account, checkpoints=exporter)
    finally:
        engine.dispose()


def _reconcile_at_start(engine: RaceEngine, ledger: Ledger, race_date: dt.date) -> None:
    """A restarted day first settles the purchases its last run left unknown (or submitting,
    if it died during the call) from the venue's history, and follows up what it left absent
    or never sent (`RaceEngine.reconcile`); nothing is bought again on a guess."""
    pending = (
        TicketState.UNKNOWN.value,
        TicketState.SUBMITTING.value,
        TicketState.RESERVED.value,
        TicketState.ABSENT.value,
    )
    prefix = f"{race_date:%Y%m%d}"
    if any(t["state"] in pending and t["race_id"].startswith(prefix) for t in ledger.tickets()):
        engine.reconcile(race_date)


def _closes(plan: Plan, close_lead_s: int) -> Callable[[str], dt.datetime | None]:
    """When each planned race's sales close (its post time less the close lead)."""
    lead = dt.timedelta(seconds=close_lead_s)
    closes = {r.race_id: r.post_time - lead for r in plan.races}
    return closes.get


class NoRacesError(KeibaError):
    """The race list of the day lists no race (not a race day)."""


@dataclass
class _Running:
    """A race day ready to run its steps: what `run_race_day` and `decide_race` share."""

    plan: Plan
    journal: Journal
    handlers: EngineHandlers
    sinks: list[AlertSink]
    memory: MemorySink
    ledger: Ledger
    engine: RaceEngine
    release: DayRelease


def _plan(journal: Journal, source: NetkeibaRaceDay, setup: RaceDaySetup, day: dt.date) -> Plan:
    """The journal's plan, or the day's planned from its race list."""
    plan = journal.plan()
    if plan is not None:
        return plan
    try:
        races = races_from_list(source.race_list(day))
    except (FetchError, NetkeibaParseError) as e:
        raise KeibaError(f"cannot plan the race day {day}: {e}") from e
    if not races:
        raise NoRacesError(f"no races are listed for {day}")
    return plan_day(day, races, setup.config.race_day)


def _source(
    setup: RaceDaySetup, warehouse: Warehouse, client: HttpClient, sinks: list[AlertSink]
) -> NetkeibaRaceDay:
    race_day = setup.config.race_day
    return NetkeibaRaceDay(
        warehouse,
        FsspecObjectStore(setup.config.object_store_url),
        client,
        setup.clock,
        max_clock_skew=dt.timedelta(seconds=race_day.max_clock_skew_s),
        on_clock_skew=_skew_alert(sinks, setup.clock),
        kind=setup.kind,
    )


@contextmanager
def _running(setup: RaceDaySetup, race_date: dt.date) -> Iterator[_Running]:
    """Plan (or resume) the day and build its engine and step handlers."""
    config = setup.config
    memory = MemorySink()
    webhook = sinks_from_config(config.monitor, secret_store_from_config(config))
    sinks: list[AlertSink] = [*webhook, memory, *setup.extra_sinks]
    setup.journal_path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(setup.journal_path)
    warehouse = open_dataset(config)
    try:
        with (
            _ledger(setup) as ledger,
            HttpClient(config.collector, setup.clock, setup.sleeper) as client,
        ):
            source = _source(setup, warehouse, client, sinks)
            plan = _plan(journal, source, setup, race_date)
            book = ReleaseBook(ledger.engine, setup.clock)
            release, stored, why = day_release(setup, book, warehouse, sinks)
            policy = release.themis() if release else config.themis
            monitor = Monitor.for_ledger(config.monitor, setup.clock, ledger, sinks)
            engine = RaceEngine(
                policy,
                ledger,
                setup.broker,
                setup.clock,
                monitor=monitor,
                max_odds_age=dt.timedelta(seconds=config.race_day.max_odds_age_s),
                alerts=sinks,
                failover=setup.failover,
                closes_at=_closes(plan, config.race_day.close_lead_s),
                rebuy=rebuy_policy(config),
                follow_resumes=True,  # `keiba monitor resume`, the server's /monitor/resume
            )
            _reconcile_at_start(engine, ledger, race_date)
            guard = ReleaseGuard(
                book,
                config.storage.dataset,
                ledger,
                setup.clock,
                config.release,
                config.monitor,
                sinks,
            )
            running = DayRelease(setup, warehouse, engine, guard)
            if release is not None and stored is not None:
                running.run(release, stored)
                start_shadow(running, book, sinks)
            inputs = running.inputs_at if release is not None else None
            handlers = EngineHandlers(
                race_date,
                source,
                engine,
                warehouse,
                inputs,
                no_model_reason=why,
                after_first_decision=settle_heap if setup.settle_heap else None,
            )
            yield _Running(plan, journal, handlers, sinks, memory, ledger, engine, running)
    finally:
        warehouse.close()
        journal.close()


def _prepare_features(warehouse: Warehouse, race_date: dt.date, clock: Clock) -> None:
    """What the day's feature builds read from the days before it, kept before the first
    decision needs it; on failure the first decision computes it (and fails there if it must)."""
    try:
        prepare_race_day(warehouse, race_date, clock.now())
    except KeibaError as e:
        log.warning("race_day.features_not_prepared", race_date=str(race_date), error=str(e))


def run_race_day(setup: RaceDaySetup, race_date: dt.date) -> DayRun:
    """Plan (or resume) and run the race day; returns the outcome of every race."""
    with _running(setup, race_date) as day:
        # the whole day only: a queued task's call (`decide_race`, `settle_race`) has one race
        if day.handlers.inputs_at is not None:
            _prepare_features(day.handlers.warehouse, race_date, setup.clock)
        warm_up()  # Themis's compiled solver, before any race's deadline
        if setup.settle_heap:
            settle_heap()
        outcomes = run_day(
            day.plan, day.journal, day.handlers, setup.clock, setup.sleeper, alerts=day.sinks
        )
        balance = int(day.ledger.balance())
        posts = {r.race_id: r.post_time for r in day.plan.races}
        return DayRun(
            race_date,
            outcomes,
            posts,
            str(setup.journal_path),
            setup.ledger_url,
            setup.account,
            day.release.model_version,
            list(day.memory.alerts),
            balance,
            day.engine.release_id or None,
            _by_plan_id(day.release.shadow_rows(), posts, race_date),
            _by_plan_id(day.release.canary_rows(), posts, race_date),
        )


def plan_race_day(setup: RaceDaySetup, race_date: dt.date) -> Plan:
    """The day's plan, recorded in its journal (planned from the race list the first time)."""
    setup.journal_path.parent.mkdir(parents=True, exist_ok=True)
    with closing(Journal(setup.journal_path)) as journal, closing(open_dataset(setup.config)) as wh:
        with HttpClient(setup.config.collector, setup.clock, setup.sleeper) as client:
            source = _source(setup, wh, client, [MemorySink()])
            plan = _plan(journal, source, setup, race_date)
        return journal.record_plan(plan, setup.clock.now())


def decide_race(setup: RaceDaySetup, race_date: dt.date, race_id: str) -> RaceOutcome | None:
    """One race's decision now, through the race day's engine and journal (`run_decision`):
    its outcome, the recorded one if it was decided before; None while it is put off."""
    with _running(setup, race_date) as day:
        return run_decision(
            day.plan, day.journal, day.handlers, setup.clock, setup.sleeper, race_id,
            alerts=day.sinks,
        )  # fmt: skip


def settle_race(setup: RaceDaySetup, race_date: dt.date, race_id: str) -> RaceSettlement:
    """One race's next settlement try now, through the race day's engine, journal and ledger
    (`run_settlement`): where its settlement stands afterwards."""
    with _running(setup, race_date) as day:
        return run_settlement(
            day.plan, day.journal, day.handlers, setup.clock, setup.sleeper, race_id,
            alerts=day.sinks,
        )  # fmt: skip

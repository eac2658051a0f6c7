"""`keiba bench execution`: race days of purchases through faulty IPAT twins, with SIGKILLs.

Each simulated day (`keiba.app.execution_bench_world`) serves two twin accounts on loopback
HTTP — the primary and a failover — whose faults are drawn per purchase, and runs the buying
process in a child process: the real `RaceEngine`, Themis, `Ledger` (a SQLite file),
reconciliation and rebuy (`keiba.execution`), buying through `IpatFormBroker` (the purchase
flow as form posts; no browser) or, with `browser`, the IPAT web broker in headless Chromium.
The child is killed with SIGKILL at planned points of a purchase (before the tickets are
marked submitting, before the purchase is sent, after it was sent, while a history is read)
and, with `p_random_kill`, at a random moment; it is restarted each time (the twins' clock
moves a minute on) and reconciles at start-up. The twins, their clock and the ledger file
outlive it.

After each day the harness checks the ledger against the venues: every ticket a twin holds
is in the ledger with the same receipt, race, pool and stake, and the other way round; no
intent bought twice; every intent bought, or recorded missed with its reason (a rejection, a
release or a `missed` record); nothing left unknown; the audit chain and the ledger's
invariants hold. `run_execution_bench` returns the counts.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import re
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keiba.app.execution_bench_world import BenchRace, FaultyTwin, bench_day
from keiba.app.ipat_form_broker import IpatFormBroker
from keiba.bankroll import Ledger, Ticket, check_invariants
from keiba.bankroll.audit import verify
from keiba.bankroll.schema import TicketState
from keiba.common.bet_types import BetType
from keiba.common.clock import JST
from keiba.common.config import ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.engine import RaceEngine
from keiba.execution.broker import Broker, Submission
from keiba.execution.channels import Attempt, Channel
from keiba.execution.history import HistoryRow
from keiba.execution.ipat import BET_NAMES, IpatBroker
from keiba.execution.ipat_secrets import IpatCredentials
from keiba.execution.rebuy import RebuyPolicy, missed_reasons
from keiba.execution.reconcile import ADOPTED_RULE
from keiba.simulator.ipat_twin import IpatAccount, serving_ipat

__all__ = ["ExecutionBenchReport", "ExecutionBenchSettings", "run_execution_bench"]

KILL_POINTS = ("before_submitting", "before_send", "after_send", "in_history")
_ACCOUNTS = (
    IpatCredentials("BENCH001", "11112222", "1234", "5678"),
    IpatCredentials("BENCH002", "33334444", "4321", "8765"),
)
_CHANNELS = ("", "alt")
_BOUGHT = (TicketState.PLACED.value, TicketState.SETTLED.value)
_OPEN = (TicketState.RESERVED.value, TicketState.SUBMITTING.value, TicketState.UNKNOWN.value)


@dataclass(frozen=True)
class ExecutionBenchSettings:
    days: int = 3
    seed: int = 0
    races_per_day: int = 12
    p_fault: float = 0.25
    p_history_down: float = 0.05
    p_kill: float = 0.08
    p_random_kill: float = 0.15
    failover: bool = True
    rebuy_margin_s: float = 180.0
    max_rebuys: int = 2
    timeout_s: float = 0.5
    browser: bool = False
    """Buy through the IPAT web broker in headless Chromium instead of the form broker."""


@dataclass
class ExecutionBenchReport:
    days: int = 0
    races: int = 0
    intents: int = 0
    bought: int = 0
    bought_again: int = 0
    bought_through_failover: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    duplicates: int = 0
    silent_misses: int = 0
    left_unknown: int = 0
    mismatches: int = 0
    adopted: int = 0
    confirmed_after_close: int = 0
    misses: Counter[str] = field(default_factory=Counter)
    audit_failures: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for name in ("faults", "kills", "misses"):
            found[name] = dict(sorted(getattr(self, name).items()))
        return found


class _SharedClock:
    """The clock of a day, shared by the twins (this process) and the buying process."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._value.value, dt.UTC)

    def set(self, at: dt.datetime) -> None:
        with self._value.get_lock():
            self._value.value = max(self._value.value, at.timestamp())

    def advance(self, delta: dt.timedelta) -> None:
        with self._value.get_lock():
            self._value.value += delta.total_seconds()


class _Killer:
    """Kills this process with SIGKILL at a race's planned point, once per race (a log file
    remembers the kills across restarts)."""

    def __init__(self, log: Path, seed: int, p_kill: float) -> None:
        self.log, self.seed, self.p_kill = log, seed, p_kill
        self.race = ""

    def at(self, point: str) -> None:
        if not self.race:
            return
        rng = random.Random(f"{self.seed}-kill-{self.race}")
        if rng.random() >= self.p_kill or rng.choice(KILL_POINTS) != point:
            return
        done = self.log.read_text().split() if self.log.exists() else []
        if self.race in done:
            return
        with self.log.open("a") as f:
            f.write(f"{self.race} {point}\n")
        os.kill(os.getpid(), signal.SIGKILL)


class _KillableLedger(Ledger):
    killer: _Killer | None = None

    def mark_submitting(self, ticket_ids: Sequence[str]) -> None:
        if self.killer is not None:
            self.killer.at("before_submitting")
        super().mark_submitting(ticket_ids)


class _Hooked:
    """A broker whose calls take simulated time and where the planned kills happen."""

    def __init__(self, inner: Broker, clock: _SharedClock, killer: _Killer) -> None:
        self.inner, self.clock, self.killer = inner, clock, killer

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        self.killer.at("before_send")
        self.clock.advance(dt.timedelta(seconds=20))
        try:
            return self.inner.submit(tickets)
        finally:
            self.killer.at("after_send")

    def history(self, day: dt.date) -> list[HistoryRow]:
        self.clock.advance(dt.timedelta(seconds=5))
        rows = self.inner.history(day)
        self.killer.at("in_history")
        return rows


@dataclass(frozen=True)
class _Day:
    """What the buying process needs to know of a day (passed to it when it is forked)."""

    races: list[BenchRace]
    urls: list[str]
    ledger_url: str
    clock_value: Any
    kill_log: Path


def _buyer(settings: ExecutionBenchSettings, day: _Day) -> None:
    """The buying process: reconcile at start-up, then buy each race still ahead, then settle."""
    clock = _SharedClock(day.clock_value)
    killer = _Killer(day.kill_log, settings.seed, settings.p_kill)
    ledger = _KillableLedger(create_ledger_engine(day.ledger_url), clock, "bench")
    ledger.killer = killer
    brokers = [
        _Hooked(_broker(settings, url, account, clock), clock, killer)
        for url, account in zip(day.urls, _ACCOUNTS, strict=False)
    ]
    official = {r.race_id: r for r in day.races}

    def results(race_id: str) -> Any:
        race = official[race_id]
        return race.result() if clock.now() >= race.post_time + dt.timedelta(minutes=10) else None

    engine = RaceEngine(
        ThemisConfig(bet_types=(BetType.WIN,)),
        ledger,
        brokers[0],
        clock,
        failover=[Channel(n, b) for n, b in zip(_CHANNELS[1:], brokers[1:], strict=False)],
        closes_at=lambda race_id: official[race_id].closes_at,
        rebuy=RebuyPolicy(dt.timedelta(seconds=settings.rebuy_margin_s), settings.max_rebuys),
        results=results,
    )
    race_date = day.races[0].post_time.astimezone(JST).date()
    engine.reconcile(race_date)
    for race in day.races:
        if race.decide_at < clock.now():
            continue  # the process was down at its decision time
        clock.set(race.decide_at)
        killer.race = race.race_id
        if any(t["state"] in _OPEN for t in ledger.tickets()):
            engine.reconcile(race_date)
        engine.decide(race.inputs())
    killer.race = ""
    clock.set(day.races[-1].post_time + dt.timedelta(minutes=30))
    engine.reconcile(race_date)
    for race in day.races:
        engine.settle(race.race_id, race.result())


class _Credentials:
    def __init__(self, credentials: IpatCredentials) -> None:
        self.credentials = credentials

    def ipat_credentials(self) -> IpatCredentials:
        return self.credentials


def _broker(
    settings: ExecutionBenchSettings, url: str, account: IpatCredentials, clock: _SharedClock
) -> Broker:
    if settings.browser:
        return IpatBroker(
            url,
            _Credentials(account),
            clock,
            timeout_s=settings.timeout_s,
            check_timeout_s=settings.timeout_s,
        )
    return IpatFormBroker(url, account, timeout_s=settings.timeout_s)


def _live(settings: ExecutionBenchSettings, day: _Day, rng: random.Random) -> int:
    """One life of the buying process; its exit code (−9: killed)."""
    process = multiprocessing.get_context("fork").Process(target=_run_child, args=(settings, day))
    process.start()
    timer = None
    if rng.random() < settings.p_random_kill:
        pid = process.pid
        assert pid is not None
        timer = threading.Timer(rng.uniform(0.02, 0.5), _kill_quietly, (pid,))
        timer.start()
    process.join()
    if timer is not None:
        timer.cancel()
    return int(process.exitcode or 0)


def _run_child(settings: ExecutionBenchSettings, day: _Day) -> None:
    try:
        _buyer(settings, day)
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _kill_quietly(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _play_day(
    settings: ExecutionBenchSettings, index: int, folder: Path, report: ExecutionBenchReport
) -> None:
    races = bench_day(index, settings.seed, settings.races_per_day)
    value = multiprocessing.get_context("fork").Value("d", 0.0)
    value.value = (races[0].decide_at - dt.timedelta(minutes=10)).timestamp()
    clock = _SharedClock(value)
    names = _CHANNELS if settings.failover else _CHANNELS[:1]
    twins = [
        FaultyTwin(
            name or "primary",
            races,
            IpatAccount(a.inetid, a.subscriber, a.pin, a.pars, 10**10),
            clock,
            seed=settings.seed,
            p_fault=settings.p_fault,
            p_history_down=settings.p_history_down,
        )
        for name, a in zip(names, _ACCOUNTS, strict=False)
    ]
    ledger_url = f"sqlite:///{folder / f'day-{index}.sqlite'}"
    db = create_ledger_engine(ledger_url)
    Ledger(db, clock, "bench").deposit(1_000_000)
    db.dispose()
    kill_log = folder / f"kills-{index}.txt"
    rng = random.Random(f"{settings.seed}-lives-{index}")
    with ExitStack() as stack:
        urls = [stack.enter_context(serving_ipat(t)) for t in twins]
        day = _Day(races, urls, ledger_url, value, kill_log)
        while (code := _live(settings, day, rng)) != 0:
            if code != -signal.SIGKILL:
                raise RuntimeError(f"the buying process failed (exit code {code})")
            report.restarts += 1
            clock.advance(dt.timedelta(minutes=1))
    planned = kill_log.read_text().split("\n") if kill_log.exists() else []
    report.kills.update(line.split()[1] for line in planned if line.strip())
    planned_total = sum(n for k, n in report.kills.items() if k != "random")
    report.kills["random"] = report.restarts - planned_total
    for twin in twins:
        report.faults.update(twin.armed)
    _check_day(db, clock, races, twins, report)
    db.dispose()
    report.days += 1
    report.races += len(races)


def _check_day(
    db: Any,
    clock: _SharedClock,
    races: Sequence[BenchRace],
    twins: Sequence[FaultyTwin],
    report: ExecutionBenchReport,
) -> None:
    """Weigh the day's ledger against the twins' purchases (see the module docstring)."""
    ledger = Ledger.existing(db, clock, "bench")
    tickets = ledger.tickets()
    report.adopted += sum(t["rule"] == ADOPTED_RULE for t in tickets)
    for name, twin in zip(_CHANNELS, twins, strict=False):
        ours = Counter(
            (t["race_id"], t["receipt"], BET_NAMES[BetType(t["bet_type"])], int(t["stake_yen"]))
            for t in tickets
            if t["state"] in _BOUGHT and Attempt.of(t["ticket_id"]).channel == name
        )
        theirs = Counter(
            (
                p.race.race_id,
                f"{p.race.key.race_date:%Y%m%d}-{p.receipt_no}-{p.serial}",
                p.line.bet_name,
                p.line.stake,
            )
            for p in twin.purchases
        )
        report.mismatches += sum(((ours - theirs) + (theirs - ours)).values())
    _check_intents(ledger, tickets, {r.race_id: r for r in races}, report)
    if not verify(db).ok or check_invariants(db):
        report.audit_failures += 1


def _check_intents(
    ledger: Ledger,
    tickets: Sequence[dict[str, Any]],
    races: dict[str, BenchRace],
    report: ExecutionBenchReport,
) -> None:
    """Each intent (a decision's ticket and its attempts): bought once, or missed with a
    reason; never bought twice, never left unknown."""
    reasons = missed_reasons(ledger)
    chains: dict[str, list[dict[str, Any]]] = {}
    for t in tickets:
        if t["rule"] != ADOPTED_RULE:
            chains.setdefault(Attempt.of(t["ticket_id"]).root, []).append(t)
    for chain in chains.values():
        report.intents += 1
        bought = [t for t in chain if t["state"] in _BOUGHT]
        report.duplicates += max(len(bought) - 1, 0)
        if any(t["state"] in _OPEN for t in chain):
            report.left_unknown += 1
        elif bought:
            _count_bought(bought[0], races, report)
        else:
            last = max(chain, key=lambda t: Attempt.of(t["ticket_id"]).number)
            why = reasons.get(last["ticket_id"])
            if why is None:
                report.silent_misses += 1
            else:
                report.misses[_kind(why)] += 1


def _count_bought(
    ticket: dict[str, Any], races: dict[str, BenchRace], report: ExecutionBenchReport
) -> None:
    report.bought += 1
    attempt = Attempt.of(ticket["ticket_id"])
    report.bought_again += attempt.number > 0
    report.bought_through_failover += attempt.channel != ""
    placed = ticket["placed_at"]
    if placed.tzinfo is None:
        placed = placed.replace(tzinfo=dt.UTC)
    report.confirmed_after_close += placed > races[ticket["race_id"]].closes_at


def _kind(reason: str) -> str:
    """A miss's reason without its numbers and ids, to count reasons of one kind together."""
    text = re.sub(r"\b[\w.-]*\d[\w.-]*\b", "N", reason)
    return re.sub(r"\s+", " ", text).strip()[:90]


def run_execution_bench(
    settings: ExecutionBenchSettings, say: Callable[[str], None] | None = None
) -> ExecutionBenchReport:
    """Play `settings.days` days (see the module docstring); the counts of what happened."""
    report = ExecutionBenchReport()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="keiba-bench-execution-") as tmp:
        for index in range(settings.days):
            _play_day(settings, index, Path(tmp), report)
            (Path(tmp) / f"day-{index}.sqlite").unlink(missing_ok=True)
            if say is not None and (index + 1) % 50 == 0:
                say(f"{index + 1} days, {report.restarts} restarts")
    report.wall_s = round(time.perf_counter() - started, 1)
    return report

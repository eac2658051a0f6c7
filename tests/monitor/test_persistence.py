"""The latched stop and the recorded tier survive a restart through the ledger's audit chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from keiba.bankroll import Ledger, verify
from keiba.common.clock import FixedClock
from keiba.common.config import MonitorConfig
from keiba.monitor import MemorySink, Monitor, peak_and_balance, restore_state

T0 = dt.datetime(2024, 5, 26, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    from keiba.common.storage import create_ledger_engine

    made = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield made
    made.dispose()


@pytest.fixture
def process(
    engine: sa.Engine, clock: FixedClock
) -> Callable[..., tuple[Ledger, Monitor, MemorySink]]:
    """A fresh 'process': a new Ledger object and a Monitor restored from its records."""

    def start(account: str = "main") -> tuple[Ledger, Monitor, MemorySink]:
        ledger = Ledger(engine, clock, account=account)
        sink = MemorySink()
        return ledger, Monitor.for_ledger(MonitorConfig(), clock, ledger, [sink]), sink

    return start


def _check(monitor: Monitor, ledger: Ledger, clock: FixedClock) -> Any:
    """A check with fresh odds and results, so only the drawdown speaks."""
    peak, balance = peak_and_balance(ledger.history())
    now = clock.now()
    return monitor.check(peak_yen=peak, balance_yen=balance, last_odds_at=now, last_result_at=now)


def _kinds(ledger: Ledger) -> list[tuple[str, Any]]:
    return [(e["kind"], e.get("tier")) for e in ledger.monitor_events()]


def test_monitor_events_are_the_accounts_monitor_payloads(
    process: Callable[..., tuple[Ledger, Monitor, MemorySink]], clock: FixedClock
) -> None:
    ledger, monitor, _ = process()
    other, other_monitor, _ = process("other")
    assert ledger.monitor_events() == []
    ledger.deposit(1_000_000)
    other.deposit(1_000_000)
    ledger.adjust(-250_000, "loss")
    clock.advance(dt.timedelta(minutes=1))
    _check(monitor, ledger, clock)
    other_monitor.resume("op", "unrelated account")
    [event] = ledger.monitor_events()
    assert event["kind"] == "drawdown_tier" and event["tier"] == "warn"
    assert event["previous_tier"] is None and event["stop_buying"] is False
    assert event["balance_yen"] == 750_000 and event["peak_yen"] == 1_000_000
    assert event["recorded_at"] == "2024-05-26T06:01:00+00:00"
    assert isinstance(event["seq"], int) and "entries" not in event
    assert [e["kind"] for e in other.monitor_events()] == ["resume"]
    assert verify(ledger.engine).ok


def test_a_latched_stop_survives_a_restart_until_resumed(
    process: Callable[..., tuple[Ledger, Monitor, MemorySink]], clock: FixedClock
) -> None:
    ledger, monitor, _ = process()
    ledger.deposit(1_000_000)
    ledger.adjust(-350_000, "bad day")
    assert _check(monitor, ledger, clock).stop_buying
    ledger.adjust(+400_000, "late payouts")  # recovered above the peak
    assert _check(monitor, ledger, clock).stop_buying
    assert _kinds(ledger) == [("drawdown_tier", "stop"), ("drawdown_tier", None)]

    for _ in range(2):  # restart (twice): still stopped, nothing recorded or alerted again
        clock.advance(dt.timedelta(hours=12))
        ledger, monitor, sink = process()
        assert monitor.stopped and monitor.tier is None
        report = _check(monitor, ledger, clock)
        assert report.stop_buying and report.stake_multiplier == 0.0
        assert "latched" in report.reasons[-1]
        assert sink.alerts == []
        assert len(ledger.monitor_events()) == 2

    monitor.resume("operator-a", "reviewed the model")
    assert not _check(monitor, ledger, clock).stop_buying
    ledger, monitor, _ = process()  # the resume is honoured after a restart
    assert not monitor.stopped
    assert not _check(monitor, ledger, clock).stop_buying
    assert _kinds(ledger)[-1] == ("resume", None)
    assert verify(ledger.engine).ok


def test_restore_does_not_record_a_recorded_tier_again(
    process: Callable[..., tuple[Ledger, Monitor, MemorySink]], clock: FixedClock
) -> None:
    ledger, monitor, _ = process()
    ledger.deposit(1_000_000)
    ledger.adjust(-220_000, "loss")
    assert _check(monitor, ledger, clock).stake_multiplier == 0.5
    ledger, monitor, sink = process()
    assert monitor.tier == "warn" and not monitor.stopped
    report = _check(monitor, ledger, clock)
    assert (report.stake_multiplier, report.alerts) == (0.5, ())
    assert _kinds(ledger) == [("drawdown_tier", "warn")]
    ledger.adjust(-100_000, "worse")  # a new tier is still recorded and alerted
    assert _check(monitor, ledger, clock).stop_buying
    assert sink.kinds() == ["drawdown.stop"]
    assert _kinds(ledger) == [("drawdown_tier", "warn"), ("drawdown_tier", "stop")]


def test_a_stop_after_the_last_resume_latches_again(
    process: Callable[..., tuple[Ledger, Monitor, MemorySink]], clock: FixedClock
) -> None:
    ledger, monitor, _ = process()
    ledger.deposit(1_000_000)
    ledger.adjust(-400_000, "loss")
    _check(monitor, ledger, clock)
    ledger.adjust(+400_000, "recovered")
    _check(monitor, ledger, clock)
    monitor.resume("op", "ok")
    ledger.adjust(-300_000, "loss again")
    assert _check(monitor, ledger, clock).stop_buying
    ledger, monitor, _ = process()
    assert monitor.stopped and monitor.tier == "stop"


def test_restore_state_rules() -> None:
    stop = {"kind": "drawdown_tier", "tier": "stop", "stop_buying": True, "seq": 3}
    warn = {"kind": "drawdown_tier", "tier": "warn", "stop_buying": False, "seq": 5}
    resume = {"kind": "resume", "operator": "op", "reason": "r", "seq": 4}
    assert restore_state([]) == restore_state([{"kind": "something_else"}])
    assert not restore_state([]).stopped and restore_state([]).tier is None
    state = restore_state([stop, warn])
    assert (state.tier, state.stopped, state.stop_record) == ("warn", True, stop)
    state = restore_state([stop, resume, warn])
    assert (state.tier, state.stopped, state.last_resume) == ("warn", False, resume)
    state = restore_state([stop, resume, warn, {**stop, "seq": 6}, {**stop, "seq": 7}])
    assert state.stopped and state.stop_record is not None and state.stop_record["seq"] == 6


def test_restore_on_a_plain_monitor(clock: FixedClock) -> None:
    sink = MemorySink()
    monitor = Monitor(MonitorConfig(), clock, [sink])
    monitor.restore([{"kind": "drawdown_tier", "tier": "stop", "stop_buying": True}])
    report = monitor.check(
        peak_yen=1_000_000, balance_yen=650_000, last_odds_at=T0, last_result_at=T0
    )
    assert report.stop_buying and sink.alerts == []
    monitor.restore([])  # a later restore replaces the state
    assert not monitor.stopped and monitor.tier is None


def test_a_stop_reached_again_after_a_resume_is_recorded_and_survives_a_restart(
    process: Callable[..., tuple[Ledger, Monitor, MemorySink]], clock: FixedClock
) -> None:
    ledger, monitor, sink = process()
    ledger.deposit(1_000_000)
    ledger.adjust(-350_000, "loss")
    _check(monitor, ledger, clock)
    monitor.resume("op", "resumed while still down")  # the balance has not recovered
    report = _check(monitor, ledger, clock)
    assert report.stop_buying and sink.alerts[-1].kind == "drawdown.stop"
    assert "still at tier stop" in sink.alerts[-1].message
    assert _kinds(ledger) == [
        ("drawdown_tier", "stop"),
        ("resume", None),
        ("drawdown_tier", "stop"),
    ]
    assert _check(monitor, ledger, clock).alerts == ()  # latched: not recorded again
    ledger.adjust(+100_000, "recovered to warn")
    assert _check(monitor, ledger, clock).stop_buying  # in this process, still latched
    ledger, restarted, _ = process()
    assert restarted.stopped and restarted.tier == "warn"  # and after a restart too


def test_a_running_monitor_follows_a_resume_written_by_another_process(
    process: Callable[..., tuple[Ledger, Monitor, MemorySink]], clock: FixedClock
) -> None:
    ledger, running, _ = process()
    ledger.deposit(1_000_000)
    ledger.adjust(-400_000, "loss")
    assert _check(running, ledger, clock).stop_buying and running.stopped
    assert not running.follow(ledger.monitor_events())  # nothing resumed it yet
    assert running.stopped

    _, operator, _ = process()  # `keiba monitor resume`, or the server, elsewhere
    operator.resume("alice", "reviewed")
    assert running.follow(ledger.monitor_events()) and not running.stopped
    assert not running.follow(ledger.monitor_events())  # once

    # still in the stopping tier: the next check stops (and records) again, and that stop is
    # not lifted by the resume already followed, nor by the monitor's own resume
    assert _check(running, ledger, clock).stop_buying
    assert not running.follow(ledger.monitor_events()) and running.stopped
    running.resume("bob", "again")
    running._audit = _Failing()  # the next stop's record is lost: the stop must still hold
    assert _check(running, ledger, clock).stop_buying and running.stopped
    assert not running.follow(ledger.monitor_events()) and running.stopped
    _, operator, _ = process()
    operator.resume("carol", "third look")
    assert running.follow(ledger.monitor_events()) and not running.stopped


class _Failing:
    def record(self, kind: str, payload: object) -> None:
        raise OSError("disk full")

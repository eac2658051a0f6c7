"""The Monitor: actions, latched stop, alerts on change, audit records in the real ledger."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from keiba.bankroll import Ledger, verify
from keiba.bankroll.schema import audit_log, decisions
from keiba.common.clock import FixedClock
from keiba.common.config import MonitorConfig, ThemisConfig
from keiba.common.errors import ConfigError
from keiba.common.secrets import EnvSecretStore
from keiba.monitor import (
    LedgerAuditWriter,
    LogSink,
    MemorySink,
    Monitor,
    WebhookSink,
    apply_to_policy,
    peak_and_balance,
    sinks_from_config,
)

T0 = dt.datetime(2024, 5, 26, 6, 0, tzinfo=dt.UTC)
CALIBRATED = [(0.5, 2.0, 100, 200), (0.5, 2.0, 100, 0)] * 20


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def record(self, kind: str, payload: Mapping[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("database is down")
        self.records.append((kind, dict(payload)))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def _monitor(clock: FixedClock, audit: Any = None, base: float = 1.0) -> tuple[Monitor, MemorySink]:
    sink = MemorySink()
    return Monitor(MonitorConfig(), clock, [sink], audit, base_stake_multiplier=base), sink


def _check(monitor: Monitor, balance: int, **kw: Any) -> Any:
    kw.setdefault("last_odds_at", T0)
    kw.setdefault("last_result_at", T0)
    return monitor.check(peak_yen=1_000_000, balance_yen=balance, **kw)


def test_tiers_lower_the_multiplier_then_stop_and_latch(clock: FixedClock) -> None:
    audit = Recorder()
    monitor, sink = _monitor(clock, audit, base=0.8)
    report = _check(monitor, 900_000, bets=CALIBRATED)
    assert (report.stake_multiplier, report.stop_buying, report.alerts) == (0.8, False, ())
    report = _check(monitor, 800_000)
    assert (report.stake_multiplier, report.stop_buying) == (0.5, False)
    assert sink.kinds() == ["drawdown.warn"]
    assert _check(monitor, 790_000).alerts == ()  # same tier: no new alert
    report = _check(monitor, 700_000)
    assert (report.stake_multiplier, report.stop_buying) == (0.0, True)
    assert sink.alerts[-1].kind == "drawdown.stop" and sink.alerts[-1].severity == "critical"
    report = _check(monitor, 950_000)  # recovered, but the stop holds
    assert report.stop_buying and "latched" in report.reasons[-1]
    assert [kind for kind, _ in audit.records] == ["drawdown_tier"] * 3
    assert audit.records[1][1]["tier"] == "stop"
    monitor.resume("operator-a", "reviewed the model")
    assert not monitor.stopped
    report = _check(monitor, 950_000)
    assert (report.stake_multiplier, report.stop_buying) == (0.8, False)
    assert audit.records[-1][0] == "resume"
    assert sink.kinds()[-2:] == ["drawdown.cleared", "drawdown.resumed"]


def test_stale_odds_pause_buying_only_while_stale(clock: FixedClock) -> None:
    monitor, sink = _monitor(clock)
    clock.advance(dt.timedelta(minutes=6))
    report = _check(monitor, 1_000_000)
    assert report.stop_buying and report.stake_multiplier == 0.0
    assert sink.kinds() == ["staleness.odds.stale"]
    _check(monitor, 1_000_000)
    assert len(sink.alerts) == 1  # not repeated
    report = _check(monitor, 1_000_000, last_odds_at=clock.now())
    assert not report.stop_buying and report.stake_multiplier == 1.0
    assert sink.kinds()[-1] == "staleness.odds.cleared"


def test_bad_performance_alerts_but_does_not_stop(clock: FixedClock) -> None:
    monitor, sink = _monitor(clock)
    losing = [(0.5, 2.0, 100, 0)] * 40
    report = _check(monitor, 990_000, bets=losing)
    assert report.performance is not None and report.performance.verdict == "below_expectation"
    assert not report.stop_buying
    assert sink.kinds() == [
        "performance.hits.below_expectation",
        "performance.return.below_expectation",
    ]
    assert "suspect calibration" in sink.alerts[0].message


def test_a_failed_audit_is_critical_and_the_stop_holds(clock: FixedClock) -> None:
    monitor, sink = _monitor(clock, Recorder(fail=True))
    report = _check(monitor, 600_000)
    assert report.stop_buying
    assert sink.kinds() == ["monitor.audit_failed", "drawdown.stop"]


def test_apply_to_policy_never_raises_the_multiplier(clock: FixedClock) -> None:
    monitor, _ = _monitor(clock)
    report = _check(monitor, 800_000)
    assert apply_to_policy(ThemisConfig(stake_multiplier=0.3), report).stake_multiplier == 0.3
    assert apply_to_policy(ThemisConfig(), report).stake_multiplier == 0.5


def test_sinks_from_config() -> None:
    assert [type(s) for s in sinks_from_config(MonitorConfig())] == [LogSink]
    sinks = sinks_from_config(MonitorConfig(webhook_url="http://127.0.0.1:9/hook"))
    assert [type(s) for s in sinks] == [LogSink, WebhookSink]


def test_the_webhook_url_can_come_from_a_secret() -> None:
    hook = "https://hooks.example.com/services/T0/xoxb-7d1f3a"
    config = MonitorConfig(webhook_secret="alert-webhook-url")
    store = EnvSecretStore({"KEIBA_SECRET_ALERT_WEBHOOK_URL": hook})
    log, webhook = sinks_from_config(config, store)
    assert isinstance(log, LogSink) and isinstance(webhook, WebhookSink)
    assert webhook.url == hook and hook not in repr(webhook)
    with pytest.raises(ConfigError, match="needs a secret store"):
        sinks_from_config(config)
    with pytest.raises(ConfigError, match="KEIBA_SECRET_ALERT_WEBHOOK_URL"):
        sinks_from_config(config, EnvSecretStore({}))
    not_a_url = EnvSecretStore({"KEIBA_SECRET_ALERT_WEBHOOK_URL": "xoxb-7d1f3a"})
    with pytest.raises(ConfigError, match="alert-webhook-url is not an http") as raised:
        sinks_from_config(config, not_a_url)
    assert "xoxb" not in str(raised.value)
    with pytest.raises(ValueError, match="not both"):
        MonitorConfig(webhook_url=hook, webhook_secret="alert-webhook-url")


@pytest.fixture
def ledger(tmp_path: Path, clock: FixedClock) -> Iterator[Ledger]:
    from keiba.common.storage import create_ledger_engine

    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield Ledger(engine, clock)
    engine.dispose()


def test_monitor_records_in_the_ledger_audit_chain(ledger: Ledger, clock: FixedClock) -> None:
    ledger.deposit(1_000_000)
    ledger.adjust(-250_000, "test loss")
    peak, balance = peak_and_balance(ledger.history())
    monitor, _ = _monitor(clock, LedgerAuditWriter(ledger))
    report = monitor.check(peak_yen=peak, balance_yen=balance, last_odds_at=T0, last_result_at=T0)
    assert report.drawdown.tier == "warn"
    assert verify(ledger.engine).ok
    with ledger.engine.connect() as conn:
        last = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc())).first()
    assert last is not None and last.record_type == "monitor"
    content = json.loads(last.content)
    assert content["payload"]["kind"] == "drawdown_tier"
    assert content["payload"]["tier"] == "warn"
    assert content["payload"]["entries"] == []  # no money moved
    assert ledger.balance() == 750_000
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar() == 0

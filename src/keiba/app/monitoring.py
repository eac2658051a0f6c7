"""The persisted drawdown stop from configuration: what `keiba monitor …` does.

Both functions open the account's ledger at `storage.ledger_url` on the wall clock. The stop is
the one the audit chain records (`keiba.monitor.restore_state` over `Ledger.monitor_events()`):
`monitor_status` reports it with the drawdown now and never writes; `resume_buying` lifts it
through the `Monitor`, which writes the `resume` audit record and sends the `drawdown.resumed`
alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keiba.bankroll import Ledger
from keiba.common.clock import Clock, SystemClock
from keiba.common.config import DrawdownTierConfig, KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.secrets import secret_store_from_config
from keiba.common.storage import create_ledger_engine
from keiba.monitor import Monitor, assess_drawdown, peak_and_balance, restore_state
from keiba.monitor.monitor import sinks_from_config

__all__ = ["MonitorCommandError", "monitor_report", "monitor_status", "resume_buying"]


class MonitorCommandError(KeibaError):
    """A monitor command that cannot do what was asked (no such account, nothing latched)."""


def _open_ledger(config: KeibaConfig, account: str, clock: Clock) -> Ledger:
    """The account's ledger; refuses an account that does not exist (opening one writes)."""
    return Ledger.existing(create_ledger_engine(config.ledger_url), clock, account)


def monitor_status(config: KeibaConfig, account: str, last: int) -> dict[str, Any]:
    """Balance, peak, drawdown and tier, the latched stop, and the `last` monitor records."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        ledger = Ledger.existing(engine, SystemClock(), account)
        return monitor_report(ledger, config.monitor.drawdown_tiers, last)
    finally:
        engine.dispose()


def monitor_report(
    ledger: Ledger, tiers: Sequence[DrawdownTierConfig], last: int
) -> dict[str, Any]:
    """`monitor_status` of an open ledger, with the drawdown tiers of the configuration."""
    peak, balance = peak_and_balance(ledger.history())
    state = assess_drawdown(peak, balance, tiers)
    events = ledger.monitor_events()
    restored = restore_state(events)
    return {
        "account": ledger.account,
        "balance_yen": balance,
        "peak_yen": peak,
        "drawdown": round(state.drawdown, 6),
        "tier": state.tier,
        "tier_stake_multiplier": state.stake_multiplier,
        "tier_stops_buying": state.stop_buying,
        "recorded_tier": restored.tier,
        "stopped": restored.stopped,
        "stopped_by": None if restored.stop_record is None else dict(restored.stop_record),
        "last_resume": None if restored.last_resume is None else dict(restored.last_resume),
        "monitor_records": len(events),
        "last_records": [dict(e) for e in events[-last:]] if last > 0 else [],
    }


def resume_buying(
    config: KeibaConfig, account: str, operator: str, reason: str, clock: Clock | None = None
) -> dict[str, Any]:
    """Lift the account's latched drawdown stop, at `clock`'s time (default: the wall clock;
    a replay's server gives the replay's); refuses when none is latched."""
    if not operator.strip() or not reason.strip():
        raise MonitorCommandError("resuming needs a non-empty --operator and --reason")
    clock = clock or SystemClock()
    ledger = _open_ledger(config, account, clock)
    monitor = Monitor.for_ledger(
        config.monitor,
        clock,
        ledger,
        sinks_from_config(config.monitor, secret_store_from_config(config)),
        base_stake_multiplier=config.themis.stake_multiplier,
    )
    if not monitor.stopped:
        raise MonitorCommandError(
            f"nothing to resume: no drawdown stop is latched for account {account!r} "
            f"(recorded tier: {monitor.tier or 'none'})"
        )
    monitor.resume(operator.strip(), reason.strip())
    after = restore_state(ledger.monitor_events())
    if after.stopped or after.last_resume is None:
        raise MonitorCommandError(
            "the resume record could not be written to the audit chain; the stop still "
            "holds (see the monitor.audit_failed alert)"
        )
    peak, balance = peak_and_balance(ledger.history())
    now = assess_drawdown(peak, balance, config.monitor.drawdown_tiers)
    return {
        "account": account,
        "stopped": False,
        "resume_record": dict(after.last_resume),
        "drawdown": round(now.drawdown, 6),
        "tier": now.tier,
        "tier_stops_buying": now.stop_buying,
    }

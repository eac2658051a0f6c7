"""`keiba monitor status` and `keiba monitor resume`: the persisted drawdown stop; wiring only.

Both read the ledger at `storage.ledger_url`. The stop is the one the audit chain records
(`keiba.monitor.restore_state` over `Ledger.monitor_events()`): `status` reports it with the
drawdown now and never writes; `resume` lifts it through the `Monitor`, which writes the
`resume` audit record and sends the `drawdown.resumed` alert.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.cli.common import JsonOption, config_of, jst, out, print_json
from keiba.common.errors import KeibaError

AccountOption = Annotated[str, typer.Option("--account", help="Bankroll account.")]


class MonitorCommandError(KeibaError):
    """A monitor command that cannot do what was asked (no such account, nothing latched)."""


def _open_ledger(config: Any, account: str) -> Any:
    """The account's ledger; refuses an account that does not exist (opening one writes)."""
    from keiba.bankroll import Ledger
    from keiba.common.clock import SystemClock
    from keiba.common.storage import create_ledger_engine

    return Ledger.existing(create_ledger_engine(config.ledger_url), SystemClock(), account)


def _status(config: Any, ledger: Any, last: int) -> dict[str, Any]:
    from keiba.monitor import assess_drawdown, peak_and_balance, restore_state

    peak, balance = peak_and_balance(ledger.history())
    state = assess_drawdown(peak, balance, config.monitor.drawdown_tiers)
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
        "last_records": [dict(e) for e in events[-last:]],
    }


def _describe(record: dict[str, Any]) -> str:
    if record.get("kind") == "drawdown_tier":
        drawdown = record.get("drawdown")
        depth = f"{drawdown:.2%}" if isinstance(drawdown, int | float) else "?"
        stop = ", buying stopped" if record.get("stop_buying") else ""
        return (
            f"tier {record.get('previous_tier') or '—'} → {record.get('tier') or '—'} "
            f"(drawdown {depth}, balance {record.get('balance_yen', 0):,} of peak "
            f"{record.get('peak_yen', 0):,} yen{stop})"
        )
    if record.get("kind") == "resume":
        return f"resumed by {record.get('operator')}: {record.get('reason')}"
    return ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("seq", "recorded_at"))


def _print_status(status: dict[str, Any]) -> None:
    tier = status["tier"] or "none"
    out.print(
        f"{status['account']}: balance {status['balance_yen']:,} yen, peak "
        f"{status['peak_yen']:,} yen, drawdown {status['drawdown']:.2%}, tier {tier} "
        f"(stake multiplier at most {status['tier_stake_multiplier']:g})",
        highlight=False,
    )
    if status["stopped"]:
        since = status["stopped_by"]
        out.print(
            f"[bold red]buying STOPPED[/]: latched by audit record {since['seq']} "
            f"({since.get('recorded_at')}, tier {since.get('tier')}); "
            "lift it with `keiba monitor resume --operator NAME --reason TEXT`",
            highlight=False,
        )
    elif status["tier_stops_buying"]:
        out.print(
            "[bold yellow]not latched yet[/], but the drawdown reaches a stopping tier: the "
            "monitor's next check stops buying",
            highlight=False,
        )
    else:
        out.print("buying allowed (no drawdown stop latched)", highlight=False)
    if not status["last_records"]:
        out.print("no monitor records yet", highlight=False)
        return
    table = Table(title=f"Last monitor records ({status['monitor_records']:,} in all)")
    for name in ("#", "time", "kind", "what"):
        table.add_column(name)
    for record in status["last_records"]:
        table.add_row(
            str(record["seq"]),
            jst(record.get("recorded_at")),
            str(record.get("kind")),
            _describe(record),
        )
    out.print(table)


def status(
    ctx: typer.Context,
    account: AccountOption = "main",
    last: Annotated[int, typer.Option(help="Newest monitor records to show.", min=1)] = 5,
    as_json: JsonOption = False,
) -> None:
    """Balance, peak, drawdown and tier, whether buying is stopped, the last monitor records.

    Read-only: writes no audit record.
    """

    def action() -> dict[str, Any]:
        config = config_of(ctx)
        return _status(config, _open_ledger(config, account), last)

    result = action()
    if as_json:
        print_json(result)
    else:
        _print_status(result)


def resume(
    ctx: typer.Context,
    operator: Annotated[str, typer.Option("--operator", help="Who decides to resume.")],
    reason: Annotated[str, typer.Option("--reason", help="Why buying may resume.")],
    account: AccountOption = "main",
    as_json: JsonOption = False,
) -> None:
    """Lift a latched drawdown stop: writes the `resume` audit record and sends the alert.

    Refuses (exit 1) when no stop is latched.
    """

    def action() -> dict[str, Any]:
        from keiba.common.clock import SystemClock
        from keiba.monitor import Monitor, assess_drawdown, peak_and_balance, restore_state

        if not operator.strip() or not reason.strip():
            raise MonitorCommandError("resuming needs a non-empty --operator and --reason")
        config = config_of(ctx)
        ledger = _open_ledger(config, account)
        monitor = Monitor.for_ledger(
            config.monitor,
            SystemClock(),
            ledger,
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

    result = action()
    if as_json:
        print_json(result)
        return
    record = result["resume_record"]
    out.print(
        f"{account}: buying resumed by {record.get('operator')} (audit record {record['seq']}): "
        f"{record.get('reason')}",
        highlight=False,
    )
    if result["tier_stops_buying"]:
        out.print(
            f"[bold yellow]note:[/] the drawdown ({result['drawdown']:.2%}) still reaches the "
            f"stopping tier {result['tier']}: the monitor's next check stops buying again",
            highlight=False,
        )


def register(groups: dict[str, typer.Typer]) -> None:
    groups["monitor"].command("status")(status)
    groups["monitor"].command("resume")(resume)

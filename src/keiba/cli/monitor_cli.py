"""`keiba monitor status` and `keiba monitor resume`: the persisted drawdown stop; parsing and
printing only.

Both read the ledger at `storage.ledger_url` (keiba.app.monitoring): `status` reports the stop
the audit chain records, with the drawdown now, and never writes; `resume` lifts it, writing
the `resume` audit record and sending the `drawdown.resumed` alert.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.monitoring import monitor_status, resume_buying
from keiba.cli.common import JsonOption, config_of, jst, out, print_json

AccountOption = Annotated[str, typer.Option("--account", help="Bankroll account.")]


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

    result = monitor_status(config_of(ctx), account, last)
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
    result = resume_buying(config_of(ctx), account, operator, reason)
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

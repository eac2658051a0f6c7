"""`keiba bankroll …` (with `tax-report`) and `keiba audit …`: wiring only.

The ledger is the database at `storage.ledger_url` (SQLite under the home by default); the
audit checkpoints go to `audit.checkpoint_url`, written once (`keiba.app.bankroll` builds both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.bankroll import (
    account_ledger,
    balance_status,
    change_balance,
    export_checkpoint_now,
    ledger_history,
    reconcile_history_file,
    tax_report_of,
    verify_ledger,
)
from keiba.cli.common import JsonOption, config_of, err, jst, note, out, print_json

AccountOption = Annotated[str, typer.Option("--account", help="Bankroll account.")]


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(status)
        return
    out.print(
        f"{status['account']}: available {status['available_yen']:,} yen "
        f"(cash {status['cash_yen']:,}, reserved {status['reserved_yen']:,})",
        highlight=False,
    )


def deposit(
    ctx: typer.Context,
    amount: Annotated[int, typer.Argument(help="Yen to add.")],
    account: AccountOption = "main",
    cause: Annotated[str, typer.Option(help="What the money is.")] = "deposit",
    as_json: JsonOption = False,
) -> None:
    """Add money to the bankroll."""

    result = change_balance(config_of(ctx), account, amount, cause, deposit=True)
    _print_status(result, as_json)


def withdraw(
    ctx: typer.Context,
    amount: Annotated[int, typer.Argument(help="Yen to take out.")],
    account: AccountOption = "main",
    cause: Annotated[str, typer.Option(help="Why.")] = "withdrawal",
    as_json: JsonOption = False,
) -> None:
    """Take money out (never more than is available)."""

    result = change_balance(config_of(ctx), account, amount, cause, deposit=False)
    _print_status(result, as_json)


def status(
    ctx: typer.Context, account: AccountOption = "main", as_json: JsonOption = False
) -> None:
    """The balance: cash, reserved stakes, available."""
    with account_ledger(config_of(ctx), account) as ledger:
        result = balance_status(ledger)
    _print_status(result, as_json)


def history(
    ctx: typer.Context,
    account: AccountOption = "main",
    limit: Annotated[int, typer.Option(help="Newest entries to show.", min=1)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest ledger entries."""
    rows = ledger_history(config_of(ctx), account, limit)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Ledger of {account} (newest {limit})")
    for name in ("#", "time", "kind", "cash", "reserved", "available after", "cause"):
        table.add_column(
            name,
            justify="right" if name in ("cash", "reserved") else "left",
            no_wrap=name == "time",
        )
    for r in rows:
        table.add_row(
            str(r["seq"]),
            jst(r["created_at"]),
            r["kind"],
            f"{r['cash_yen']:+,}",
            f"{r['reserved_yen']:+,}",
            f"{r['cash_after_yen'] - r['reserved_after_yen']:,}",
            r["cause"],
        )
    out.print(table)


def verify(
    ctx: typer.Context,
    checkpoints: Annotated[
        bool, typer.Option(help="Also check the exported checkpoints of the chain's head.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Check the audit chain, the tables it vouches for and the ledger's invariants; names the
    first bad record."""

    result = verify_ledger(config_of(ctx), checkpoints=checkpoints)
    if as_json:
        print_json(result)
    elif result["ok"]:
        out.print(
            f"audit chain OK: {result['records']:,} records, head {result['head_seq']} "
            f"{result['head_sha256'][:16]}…, {result['checkpoints_checked']} checkpoint(s) "
            f"(newest: record {result['newest_checkpoint_seq']}); tickets, decisions and "
            "entries match it; ledger invariants hold",
            highlight=False,
        )
        if result["checkpoints_beside_ledger"]:
            note(
                f"the checkpoints ({result['checkpoint_url']}) are kept under the home, beside "
                "the ledger: whoever can rewrite the ledger can remove them; set "
                "audit.checkpoint_url to a place they cannot write (docs/bankroll.md)"
            )
    else:
        if result["problem"]:
            err.print(f"[bold red]audit chain broken:[/] {result['problem']}", highlight=False)
        for problem in result["ledger_problems"]:
            err.print(f"[bold red]ledger:[/] {problem}", highlight=False)
    if not result["ok"]:
        raise typer.Exit(1)


def export(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Write the chain head to audit.checkpoint_url as a write-once checkpoint."""

    result = export_checkpoint_now(config_of(ctx))
    if as_json:
        print_json(result)
        return
    verb = "written" if result["written_now"] else "already exported"
    out.print(f"checkpoint of record {result['seq']} {verb}: {result['key']}", highlight=False)


def tax_report(
    ctx: typer.Context,
    year: Annotated[int, typer.Option("--year", help="Calendar year (JST).")],
    account: AccountOption = "main",
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write every purchase to this CSV file.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every purchase of a year, daily and annual totals, and income as 雑所得 and 一時所得."""

    report = tax_report_of(config_of(ctx), account, year, csv_path)
    summary = {
        "year": report.year,
        "account": report.account,
        "purchases": len(report.purchases),
        "stake_yen": report.stake_yen,
        "payout_yen": report.payout_yen,
        "miscellaneous_income_yen": report.miscellaneous_income_yen,
        "winning_stake_yen": report.winning_stake_yen,
        "winning_payout_yen": report.winning_payout_yen,
        "occasional_income_yen": report.occasional_income_yen,
        "occasional_taxable_yen": report.occasional_taxable_yen,
        "races": report.races,
        "races_by_recorded_rule": report.races_by_recorded_rule,
        "days": [
            {
                "day": d.day.isoformat(),
                "tickets": d.tickets,
                "stake_yen": d.stake_yen,
                "payout_yen": d.payout_yen,
            }
            for d in report.days
        ],
        "csv": None if csv_path is None else str(csv_path),
        "notes": report.notes,
    }
    if as_json:
        print_json(summary)
        return
    days = Table(title=f"Purchases {year} ({account}), by day (JST)")
    for name in ("day", "tickets", "stake", "payout"):
        days.add_column(name, justify="left" if name == "day" else "right")
    for d in report.days:
        days.add_row(d.day.isoformat(), f"{d.tickets:,}", f"{d.stake_yen:,}", f"{d.payout_yen:,}")
    out.print(days)
    share = (
        f"{report.races_by_recorded_rule:,} of {report.races:,} "
        f"({report.races_by_recorded_rule / report.races:.1%})"
        if report.races
        else "no races"
    )
    totals = Table(title=f"Tax summary {year}")
    totals.add_column("item")
    totals.add_column("yen", justify="right")
    for label, value in (
        ("purchases", f"{len(report.purchases):,} tickets"),
        ("stakes", f"{report.stake_yen:,}"),
        ("payouts", f"{report.payout_yen:,}"),
        ("雑所得 (payouts − stakes)", f"{report.miscellaneous_income_yen:,}"),
        (
            "winning tickets: payouts / stakes",
            f"{report.winning_payout_yen:,} / {report.winning_stake_yen:,}",
        ),
        ("一時所得 (after 500,000 deduction)", f"{report.occasional_income_yen:,}"),
        ("一時所得 taxable half", f"{report.occasional_taxable_yen:,}"),
        ("races bought by a recorded rule", share),
    ):
        totals.add_row(label, value)
    out.print(totals)
    for text in report.notes:
        note(text)
    if csv_path is not None:
        out.print(f"CSV: {csv_path}", highlight=False)


def reconcile(
    ctx: typer.Context,
    history: Annotated[
        Path,
        typer.Argument(
            metavar="HISTORY.csv",
            help="The purchase history (投票内容照会) downloaded from IPAT, as it is (Shift_JIS).",
        ),
    ],
    account: AccountOption = "main",
    as_json: JsonOption = False,
) -> None:
    """Settle unknown purchases from the venue's history and adopt tickets bought by hand."""
    results = reconcile_history_file(config_of(ctx), account, history)
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    for result in results:
        out.print(result.summary(), highlight=False)
        for row in result.unresolved:
            note(f"receipt {row.receipt}: race {row.venue.name} {row.race_no}R not in the dataset")
    if not results:
        note(f"{history} holds no purchases")


def register(groups: dict[str, typer.Typer]) -> None:
    bankroll, audit = groups["bankroll"], groups["audit"]
    for command in (deposit, withdraw, status, history):
        bankroll.command()(command)
    bankroll.command("tax-report")(tax_report)
    bankroll.command("reconcile")(reconcile)
    audit.command("verify")(verify)
    audit.command("export")(export)

"""`keiba collect`, `keiba reparse` and `keiba data status`: wiring only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.cli.common import (
    JsonOption,
    config_of,
    err,
    out,
    print_json,
    progress_bar,
    run_reporting_errors,
)

__all__ = ["register"]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD") from None


def _print_ingest(ingest: dict[str, Any]) -> None:
    out.print(
        f"pages {ingest['pages']:,}: races {ingest['races']:,}, runners {ingest['runners']:,}, "
        f"payouts {ingest['payouts']:,}, odds snapshots {ingest['odds_snapshots']:,} "
        f"({ingest['odds_rows']:,} rows), cards {ingest['cards']:,} "
        f"({ingest['entries']:,} entries), quarantined {ingest['quarantined']:,}",
        highlight=False,
    )


def _exit_if_quarantined(config: Any, quarantined: int) -> None:
    if quarantined:
        err.print(
            f"[bold red]{quarantined} record(s) quarantined[/]: see `keiba data status` and the "
            f"quarantine table in {config.duckdb_path}",
            highlight=False,
        )
        raise typer.Exit(1)


def collect_command(
    ctx: typer.Context,
    date: Annotated[str, typer.Option("--date", help="First race day, YYYY-MM-DD.")],
    to: Annotated[str | None, typer.Option("--to", help="Last race day (default: --date).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch a day's (or a range's) races from netkeiba, store the raw pages, load them."""
    config = config_of(ctx)
    start, end = _date(date), _date(to) if to else None

    def action() -> Any:
        import time

        from keiba.common.clock import SystemClock
        from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
        from keiba.data_collector.collector import collect
        from keiba.data_collector.http_client import HttpClient

        clock = SystemClock()
        store = FsspecObjectStore(config.object_store_url)
        with (
            DuckDBWarehouse(config.duckdb_path) as warehouse,
            HttpClient(config.collector, clock, time.sleep) as client,
            progress_bar(not as_json) as progress,
        ):
            return collect(warehouse, store, client, clock, start, end, progress=progress)

    report = run_reporting_errors(action)
    result = report.to_dict()
    if as_json:
        print_json(result)
    else:
        out.print(
            f"{', '.join(result['dates'])}: {result['races_listed']:,} races listed, "
            f"{result['requests']:,} requests, {result['pages_stored']:,} pages stored",
            highlight=False,
        )
        _print_ingest(result["ingest"])
        for url in result["not_found"]:
            out.print(f"[yellow]not found:[/] {url}", highlight=False)
    for failure in result["failed"]:
        err.print(f"[bold red]failed:[/] {failure}", highlight=False)
    if report.stopped:
        err.print(f"[bold red]stopped:[/] {report.stopped}", highlight=False)
        raise typer.Exit(1)
    _exit_if_quarantined(config, report.ingest.quarantined)
    if report.failed:
        raise typer.Exit(1)


def reparse_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Rebuild the warehouse's netkeiba rows from the stored raw pages (no network)."""
    config = config_of(ctx)

    def action() -> Any:
        from keiba.common.clock import SystemClock
        from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
        from keiba.data_collector.collector import reparse

        with DuckDBWarehouse(config.duckdb_path) as warehouse:
            return reparse(warehouse, FsspecObjectStore(config.object_store_url), SystemClock())

    report = run_reporting_errors(action)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_ingest(report.to_dict())
    _exit_if_quarantined(config, report.quarantined)


def status_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Races, runners and payouts per year, venue and surface; odds; quarantine."""
    config = config_of(ctx)

    def action() -> Any:
        from keiba.common.storage import DuckDBWarehouse
        from keiba.data_collector.status import data_status

        with DuckDBWarehouse(config.duckdb_path) as warehouse:
            return data_status(warehouse)

    status = run_reporting_errors(action)
    if as_json:
        print_json(status)
        return
    races = Table(title=f"Warehouse {config.duckdb_path}")
    for column in ("year", "venue", "surface", "races", "runners", "payouts"):
        races.add_column(column, justify="right" if column not in ("venue", "surface") else "left")
    for row in status["races"]:
        races.add_row(
            str(row["year"]), row["venue"], row["surface"],
            f"{row['races']:,}", f"{row['runners']:,}", f"{row['payouts']:,}",
        )  # fmt: skip
    out.print(races)
    for row in status["odds"]:
        out.print(
            f"odds {row['stage']}: {row['snapshots']:,} snapshots, {row['rows']:,} rows",
            highlight=False,
        )
    for row in status["quarantine"]:
        out.print(f"quarantine {row['source']}: {row['records']:,} records", highlight=False)
    out.print(f"cards (entries): {status['totals']['entries']:,} rows", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("collect")(collect_command)
    app.command("reparse")(reparse_command)
    data = typer.Typer(name="data", help="What the warehouse holds.", no_args_is_help=True)
    data.command("status")(status_command)
    app.add_typer(data, name="data")

"""`keiba data collect` and `keiba data reparse`: netkeiba pages into the warehouse; wiring only.

The work is in keiba.data_collector.collector.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    config_of,
    err,
    exit_if_quarantined,
    out,
    parse_date,
    print_json,
    progress_bar,
)

__all__ = ["register"]


def _print_ingest(ingest: dict[str, Any]) -> None:
    out.print(
        f"pages {ingest['pages']:,}: races {ingest['races']:,}, runners {ingest['runners']:,}, "
        f"payouts {ingest['payouts']:,}, odds snapshots {ingest['odds_snapshots']:,} "
        f"({ingest['odds_rows']:,} rows), cards {ingest['cards']:,} "
        f"({ingest['entries']:,} entries), quarantined {ingest['quarantined']:,}",
        highlight=False,
    )


def collect_command(
    ctx: typer.Context,
    date_from: Annotated[
        dt.date, typer.Option("--from", parser=parse_date, help="First race day.")
    ],
    date_to: Annotated[
        dt.date | None,
        typer.Option("--to", parser=parse_date, help="Last race day (default: --from)."),
    ] = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch a day's (or a range's) races from netkeiba, store the raw pages, load them."""
    config = config_of(ctx, dataset=dataset)
    start, end = date_from, date_to

    def action() -> Any:
        import time

        from keiba.common.clock import SystemClock
        from keiba.common.storage import FsspecObjectStore
        from keiba.common.storage.datasets import open_dataset
        from keiba.data_collector.collector import collect
        from keiba.data_collector.http_client import HttpClient

        clock = SystemClock()
        store = FsspecObjectStore(config.object_store_url)
        with (
            open_dataset(config) as warehouse,
            HttpClient(config.collector, clock, time.sleep) as client,
            progress_bar(not as_json) as progress,
        ):
            return collect(warehouse, store, client, clock, start, end, progress=progress)

    report = action()
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
    exit_if_quarantined(config, report.ingest.quarantined)
    if report.failed:
        raise typer.Exit(1)


def reparse_command(
    ctx: typer.Context, dataset: DatasetOption = None, as_json: JsonOption = False
) -> None:
    """Rebuild the warehouse's netkeiba rows from the stored raw pages (no network)."""
    config = config_of(ctx, dataset=dataset)

    def action() -> Any:
        from keiba.common.clock import SystemClock
        from keiba.common.storage import FsspecObjectStore
        from keiba.common.storage.datasets import open_dataset
        from keiba.data_collector.collector import reparse

        with open_dataset(config) as warehouse:
            return reparse(warehouse, FsspecObjectStore(config.object_store_url), SystemClock())

    report = action()
    if as_json:
        print_json(report.to_dict())
    else:
        _print_ingest(report.to_dict())
    exit_if_quarantined(config, report.quarantined)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["data"].command("collect")(collect_command)
    groups["data"].command("reparse")(reparse_command)

"""`keiba data collect` and `keiba data reparse`: netkeiba pages into the warehouse; parsing and
printing only.

The work is in keiba.app.data (over keiba.data_collector.collector).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from keiba.app.data import collect_days, reparse_pages
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
    with progress_bar(not as_json) as progress:
        report = collect_days(config, date_from, date_to, progress)
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
    report = reparse_pages(config)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_ingest(report.to_dict())
    exit_if_quarantined(config, report.quarantined)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["data"].command("collect")(collect_command)
    groups["data"].command("reparse")(reparse_command)

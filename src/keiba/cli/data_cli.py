"""`keiba data …`: generate, import, export and inspect datasets; wiring only.

The work is in keiba.simulator (generate), keiba.data_collector (import, export, status).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
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
)

__all__ = ["register"]


class ImportFormat(StrEnum):
    CANONICAL = "canonical"
    JRA2018 = "jra2018"


class FileFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


def generate(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the world into.")],
    years: Annotated[int, typer.Option(help="Seasons to simulate.", min=1, max=50)] = 1,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 0,
    start_year: Annotated[int, typer.Option(help="First simulated season.")] = 2015,
    file_format: Annotated[FileFormat, typer.Option("--format")] = FileFormat.PARQUET,
    all_odds: Annotated[
        bool, typer.Option("--all-odds", help="Also write odds of every exotic combination.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Simulate JRA seasons and write them in the canonical import format."""
    config_of(ctx)

    def action() -> dict[str, Any]:
        import time

        from keiba.data_collector.canonical import write_canonical
        from keiba.simulator import WorldConfig, generate_world, market_statistics

        started = time.perf_counter()
        with progress_bar(not as_json) as progress:
            world = generate_world(
                WorldConfig(
                    years=years, seed=seed, start_year=start_year, include_exotic_odds=all_odds
                ),
                progress=lambda done, total: progress("race days", done, total),
            )
        elapsed = time.perf_counter() - started
        frames = {
            "races": world.races,
            "runners": world.runners,
            "payouts": world.payouts,
            "odds": world.odds,
            "true_probabilities": world.true_probabilities,
        }
        write_canonical(frames, out_dir, file_format.value)
        return {
            "out": str(out_dir),
            "seconds": round(elapsed, 2),
            "rows": {name: frame.height for name, frame in frames.items()},
            "market": market_statistics(world),
        }

    result = action()
    if as_json:
        print_json(result)
        return
    table = Table(title=f"Simulated world written to {result['out']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, rows in result["rows"].items():
        table.add_row(f"{name} rows", f"{rows:,}")
    for name, value in result["market"].items():
        table.add_row(name, f"{value:,.4f}" if isinstance(value, float) else f"{value:,}")
    table.add_row("generation time", f"{result['seconds']} s")
    out.print(table)


def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Directories or files to import.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", help="Input format.")] = (
        ImportFormat.CANONICAL
    ),
    as_json: JsonOption = False,
) -> None:
    """Validate and load data into the warehouse (idempotent; nothing half-written)."""
    config = config_of(ctx)

    if fmt is ImportFormat.JRA2018:
        _import_jra2018(config, paths, as_json)
        return

    def action() -> list[dict[str, Any]]:
        from keiba.common.storage import DuckDBWarehouse
        from keiba.data_collector.canonical import import_canonical

        results = []
        with DuckDBWarehouse(config.duckdb_path) as warehouse:
            for path in paths:
                loaded = import_canonical(warehouse, path)
                results.append(
                    {
                        "path": str(path),
                        "new": loaded.new,
                        "changed": loaded.changed,
                        "unchanged": loaded.unchanged,
                        "rows_written": loaded.rows_written,
                    }
                )
        return results

    results = action()
    if as_json:
        print_json(results)
        return
    for result in results:
        table = Table(title=f"Imported {result['path']}")
        for column in ("table", "new", "changed", "unchanged", "rows written"):
            table.add_column(column, justify="right" if column != "table" else "left")
        for name in result["new"]:
            table.add_row(
                name,
                f"{result['new'][name]:,}",
                f"{result['changed'][name]:,}",
                f"{result['unchanged'][name]:,}",
                f"{result['rows_written'][name]:,}",
            )
        out.print(table)


def _import_jra2018(config: Any, paths: list[Path], as_json: bool) -> None:
    """Results CSVs and payouts are joined within one call, so all paths go in together."""

    def action() -> Any:
        from keiba.common.clock import SystemClock
        from keiba.common.storage import DuckDBWarehouse
        from keiba.data_collector.jra2018 import import_jra2018

        with DuckDBWarehouse(config.duckdb_path) as warehouse:
            return import_jra2018(warehouse, list(paths), SystemClock())

    report = action()
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.summary():
            out.print(line, highlight=False)
    if report.quarantined:
        err.print(
            f"[bold red]{report.quarantined} record(s) quarantined[/]: see the quarantine table "
            f"in {config.duckdb_path}",
            highlight=False,
        )
        raise typer.Exit(1)


def export(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write.")],
    file_format: Annotated[FileFormat, typer.Option("--format")] = FileFormat.PARQUET,
    as_json: JsonOption = False,
) -> None:
    """Write the warehouse's races, runners, payouts and odds in the canonical format."""
    config = config_of(ctx)

    def action() -> dict[str, int]:
        from keiba.common.storage import DuckDBWarehouse
        from keiba.data_collector.canonical import export_canonical

        with DuckDBWarehouse(config.duckdb_path) as warehouse:
            warehouse.ensure_schema()
            return export_canonical(warehouse, out_dir, file_format.value)

    counts = action()
    if as_json:
        print_json({"out": str(out_dir), "rows": counts})
        return
    for name, rows in counts.items():
        out.print(f"{name}: {rows:,} rows → {out_dir / (name + '.' + file_format.value)}")


def status_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Races, runners and payouts per year, venue and surface; odds; quarantine."""
    config = config_of(ctx)

    def action() -> Any:
        from keiba.common.storage import DuckDBWarehouse
        from keiba.data_collector.status import data_status

        with DuckDBWarehouse(config.duckdb_path) as warehouse:
            return data_status(warehouse)

    status = action()
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


def register(groups: dict[str, typer.Typer]) -> None:
    data = groups["data"]
    data.command("generate")(generate)
    data.command("import")(import_)
    data.command("export")(export)
    data.command("status")(status_command)

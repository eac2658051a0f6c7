"""`keiba data …`: generate, import, export and inspect datasets; parsing and printing only.

The work is in keiba.app.data (over keiba.simulator and keiba.data_collector).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from keiba.app.data import (
    dataset_details,
    datasets_status,
    drop_dataset,
    export_dataset,
    generate_files,
    import_canonical_files,
    import_jra2018_files,
    warehouse_location,
)
from keiba.app.floors import learnable_floor
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    config_of,
    err,
    exit_if_quarantined,
    jst,
    out,
    parse_date,
    print_json,
    progress_bar,
)
from keiba.simulator.learnable import CHOICE_SHARPNESS

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
    with progress_bar(not as_json) as progress:
        result = generate_files(
            years, seed, start_year, all_odds, out_dir, file_format.value, progress=progress
        )
    if as_json:
        print_json(result)
        return
    out.print(f"Simulated world written to {result['out']}", highlight=False)
    table = Table()
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, rows in result["rows"].items():
        table.add_row(f"{name} rows", f"{rows:,}")
    for name, value in result["market"].items():
        table.add_row(name, f"{value:,.4f}" if isinstance(value, float) else f"{value:,}")
    table.add_row("generation time", f"{result['seconds']} s")
    out.print(table)


def learnable_floor_command(
    ctx: typer.Context,
    years: Annotated[
        int | None, typer.Option(help="Seasons to simulate (default: the demo's).", min=2, max=50)
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the world (default: the demo's).")
    ] = None,
    first_day: Annotated[
        dt.date | None,
        typer.Option(
            "--from", parser=parse_date, help="First day scored (default: the demo's test period)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="A stored model to score beside the floors, read from --dataset's features "
            "(which must hold the same world, e.g. the demo's demo-simulated).",
        ),
    ] = None,
    jockey_choices: Annotated[
        float,
        typer.Option(
            help="How sharply the learnable floor reads the order of the jockeys given to "
            "runners that change jockey as a ranking of their ratings (0: not at all).",
            min=0.0,
        ),
    ] = CHOICE_SHARPNESS,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a simulated world's floors on its test races: truth, knowable (latent quantities
    known), learnable (the posterior predictive from the record before each race), market."""
    config = config_of(ctx, dataset=dataset)
    with progress_bar(not as_json) as progress:
        result = learnable_floor(config, years, seed, first_day, progress, model, jockey_choices)
    if as_json:
        print_json(result)
        return
    w = result["world"]
    out.print(
        f"World of {w['years']} years (seed {w['seed']}), test {result['test_period'][0]} … "
        f"{result['test_period'][1]}; {result['seconds']} s ({result['cpu_seconds']} s CPU). "
        "Winner log-loss:",
        highlight=False,
    )
    groups = result["groups"]
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("")
    for group, scored in groups.items():
        table.add_column(f"{group}\n({scored['races']:,} races)", justify="right")
    first = next(iter(groups.values()))
    for name in first["log_loss"]:
        table.add_row(name, *(f"{g['log_loss'][name]:.4f}" for g in groups.values()))
    if "model_vs_learnable_delta_r2" in first:
        table.add_row(
            "ΔR² model − learnable",
            *(_interval(g["model_vs_learnable_delta_r2"]) for g in groups.values()),
        )
    out.print(table)


def _interval(d: dict[str, float]) -> str:
    return f"{d['delta']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"


def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Directories or files to import.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", help="Input format.")] = (
        ImportFormat.CANONICAL
    ),
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and load data into the warehouse (idempotent; nothing half-written)."""
    config = config_of(ctx, dataset=dataset)

    if fmt is ImportFormat.JRA2018:
        _import_jra2018(config, paths, as_json)
        return

    results = import_canonical_files(config, paths)
    if as_json:
        print_json(results)
        return
    for result in results:
        out.print(f"Imported {result['path']}", highlight=False)
        table = Table()
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
    report = import_jra2018_files(config, paths)
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.summary():
            out.print(line, highlight=False)
    exit_if_quarantined(config, report.quarantined)


def export(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write.")],
    file_format: Annotated[FileFormat, typer.Option("--format")] = FileFormat.PARQUET,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the warehouse's races, runners, payouts and odds in the canonical format."""
    config = config_of(ctx, dataset=dataset)

    counts = export_dataset(config, out_dir, file_format.value)
    if as_json:
        print_json({"out": str(out_dir), "rows": counts})
        return
    for name, rows in counts.items():
        out.print(f"{name}: {rows:,} rows → {out_dir / (name + '.' + file_format.value)}")


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n / 1e3:,.0f} kB"


def _print_datasets(rows: list[dict[str, Any]], where: str) -> None:
    table = Table(title="Datasets", box=box.SIMPLE_HEAD)
    for column in ("", "dataset", "kind", "races", "runners", "first day", "last day", "size"):
        table.add_column(
            column, justify="right" if column in ("races", "runners", "size") else "left"
        )
    for row in rows:
        if "error" in row:
            table.add_row("", row["name"], "?", "", "", "", "", _size(row["bytes"]))
            continue
        table.add_row(
            "*" if row["selected"] else "", row["name"], row["kind"] or "empty",
            f"{row['races']:,}", f"{row['runners']:,}", row["first_date"] or "",
            row["last_date"] or "", _size(row["bytes"]),
        )  # fmt: skip
    out.print(table)
    out.print(f"* selected; in {where}", highlight=False)
    for row in rows:
        if "error" in row:
            err.print(f"[yellow]{row['name']}:[/] {escape(row['error'])}", highlight=False)


def _print_details(details: dict[str, Any]) -> None:
    out.print(
        f"dataset {details['name']} ({details['kind'] or 'empty'}): {details['races']:,} races, "
        f"{details['runners']:,} runners, {details['first_date'] or '—'} to "
        f"{details['last_date'] or '—'}, {_size(details['bytes'])}",
        highlight=False,
    )
    out.print(f"stored in: {details['path']}", highlight=False)
    out.print(f"created: {jst(details['created_at'])}", highlight=False)
    for load in details["loads"]:
        out.print(f"loaded {jst(load['loaded_at'])}: {load['source']}", highlight=False)
    status = details["contents"]
    races = Table(title="Races by year, venue and surface", box=box.SIMPLE_HEAD)
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


def status_command(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(metavar="[DATASET]", help="One dataset in detail.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every dataset (kind, races, days, size), or one in detail: its loads and contents."""
    config = config_of(ctx)
    if name is None:
        rows = datasets_status(config)
        if as_json:
            print_json({"warehouse_dir": warehouse_location(config), "datasets": rows})
        elif not rows:
            out.print(
                f"no datasets yet in {warehouse_location(config)}: keiba data import or keiba demo "
                "create one",
                highlight=False,
            )
        else:
            _print_datasets(rows, warehouse_location(config))
        return
    details = dataset_details(config, name)
    if as_json:
        print_json(details)
    else:
        _print_details(details)


def drop_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="DATASET", help="The dataset to delete.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a dataset's warehouse file (after asking); nothing else is touched."""
    config = config_of(ctx)
    files = drop_dataset(config, name, check_only=True)  # refuses what it cannot delete
    details = dataset_details(config, name)
    if not yes:
        what = (
            f"dataset {name} ({details['kind'] or 'empty'}, {details['races']:,} races, "
            f"{', '.join(str(p) for p in files)})"
        )
        if not typer.confirm(f"Delete {what}?", default=False, err=True):
            err.print("nothing deleted", highlight=False)
            raise typer.Exit(1)
    removed = drop_dataset(config, name)
    if as_json:
        print_json({"dataset": name, "removed": [str(p) for p in removed]})
        return
    for path in removed:
        out.print(f"deleted {path}", highlight=False)


def register(groups: dict[str, typer.Typer]) -> None:
    data = groups["data"]
    data.command("generate")(generate)
    data.command("learnable-floor")(learnable_floor_command)
    data.command("import")(import_)
    data.command("export")(export)
    data.command("status")(status_command)
    data.command("drop")(drop_command)

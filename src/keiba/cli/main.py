"""The `keiba` command: wiring only. Each verb loads configuration, builds the adapters, calls
one library function and prints the result (a Rich table, or JSON with `--json`).

Heavy libraries (LightGBM, DuckDB, Polars) are imported inside the verbs so `keiba --help`
stays fast. A `KeibaError` is printed as one clear line on stderr with exit code 1; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.cli.common import (
    Context,
    JsonOption,
    config_of,
    err,
    out,
    print_json,
    progress_bar,
    run_reporting_errors,
)

app = typer.Typer(
    name="keiba",
    help="JRA horse racing: calibrated probabilities, blind bet decisions, honest measurement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class ImportFormat(StrEnum):
    CANONICAL = "canonical"
    JRA2018 = "jra2018"


class FileFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Data directory (default: $KEIBA_HOME or ./keiba-home)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML configuration (default: <home>/keiba.yaml)."),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = None,
) -> None:
    ctx.obj = Context(home, config, log_level)


@app.command()
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

    result = run_reporting_errors(action)
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


@app.command("import")
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

    results = run_reporting_errors(action)
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

    report = run_reporting_errors(action)
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


@app.command()
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

    counts = run_reporting_errors(action)
    if as_json:
        print_json({"out": str(out_dir), "rows": counts})
        return
    for name, rows in counts.items():
        out.print(f"{name}: {rows:,} rows → {out_dir / (name + '.' + file_format.value)}")


@app.command()
def demo(
    ctx: typer.Context,
    source: Annotated[
        str | None, typer.Option(help="simulated (default) or warehouse (data already imported).")
    ] = None,
    years: Annotated[int | None, typer.Option(help="Simulated seasons.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulated world.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the main job end to end: data, features, model, bets, ledger, report."""
    overrides: dict[str, Any] = {}
    for key, value in (("source", source), ("years", years), ("seed", seed)):
        if value is not None:
            overrides.setdefault("demo", {})[key] = value
    config = config_of(ctx, overrides)

    def action() -> Any:
        from keiba.common.clock import SystemClock
        from keiba.evaluator.main_job import run_main_job

        with progress_bar(not as_json) as progress:
            return run_main_job(config, SystemClock(), progress)

    summary = run_reporting_errors(action)
    if as_json:
        print_json(summary.to_dict())
        return
    _print_demo_summary(summary)


@app.command()
def bench(
    ctx: typer.Context,
    years: Annotated[int, typer.Option(help="Simulated seasons to generate.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 1,
    jra2018: Annotated[
        Path | None,
        typer.Option(help="Folder of the 2018 JRA CSVs, to time their import as well."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Time the heavy steps (generate, write, import, features) and measure the market."""
    config = config_of(ctx)

    def action() -> Any:
        from keiba.benchmarks import as_dicts, machine, run_benchmarks

        def say(step: str) -> None:
            if not as_json:
                err.print(f"[dim]{step}…[/]")

        return {
            "machine": machine(),
            "results": as_dicts(run_benchmarks(years, seed, jra2018, say, config.model)),
        }

    report = run_reporting_errors(action)
    if as_json:
        print_json(report)
        return
    table = Table(title=f"keiba bench on {report['machine']['cpus']} CPUs")
    for column in ("step", "seconds", "peak RSS (MB)", "detail"):
        table.add_column(column, justify="left" if column in ("step", "detail") else "right")
    for r in report["results"]:
        detail = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v:,}" for k, v in r["detail"].items()
        )
        table.add_row(r["step"], f"{r['seconds']:.2f}", f"{r['process_peak_rss_mb']:.0f}", detail)
    out.print(table)


def _print_demo_summary(summary: Any) -> None:
    from keiba.evaluator.evaluation import NAMES

    names = NAMES

    table = Table(title="Model against the market on the same test races")
    for column in ("", "races", "winner log-loss", "pseudo-R²", "Brier"):
        table.add_column(column, justify="right" if column else "left")
    for key, s in summary.scores.items():
        table.add_row(
            names[key],
            f"{s['races']:,}",
            f"{s['log_loss']:.4f}",
            f"{s['pseudo_r2']:.4f}",
            f"{s['brier']:.4f}",
        )
    out.print(table)
    for key, d in summary.delta_r2_vs_market.items():
        out.print(
            f"ΔR² {names[key]} − market: {d['delta']:+.4f} "
            f"(95% race bootstrap {d['low']:+.4f} to {d['high']:+.4f})"
        )
    c = summary.combination
    out.print(f"combination c ∝ f^α q^β: α = {c['alpha']:.3f}, β = {c['beta']:.3f}")
    bets = Table(title="Win bets by Themis, settled in the demo ledger")
    bets.add_column("")
    bets.add_column("", justify="right")
    rate = "—" if summary.return_rate is None else f"{summary.return_rate:.1%}"
    hit = "—" if summary.hit_rate is None else f"{summary.hit_rate:.1%}"
    for label, value in (
        ("test period", " to ".join(summary.test_period)),
        ("bets / races bet", f"{summary.bets:,} / {summary.races_bet:,}"),
        ("staked", f"{summary.staked_yen:,} yen"),
        ("returned", f"{summary.returned_yen:,} yen"),
        ("return rate (回収率)", rate),
        ("hit rate (的中率)", hit),
        (
            "bankroll",
            f"{summary.starting_bankroll_yen:,} → {summary.final_bankroll_yen:,} yen",
        ),
        ("max drawdown", f"{summary.max_drawdown:.1%}"),
    ):
        bets.add_row(label, value)
    out.print(bets)
    for caveat in summary.caveats:
        out.print(f"[yellow]note:[/] {caveat}", highlight=False)
    out.print(f"Report: {summary.report_path}", highlight=False)


def _register_command_modules() -> None:
    """Commands of other areas live in their own modules, each with `register(app)`."""
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"keiba.cli.{name}").register(app)


_COMMAND_MODULES: tuple[str, ...] = (
    "model_cli",
    "data_cli",
    "bankroll_cli",
    "decide",
    "simulate_cli",
    "backtest_cli",
    "monitor_cli",
    "report_cli",
)
_register_command_modules()

if __name__ == "__main__":
    app()

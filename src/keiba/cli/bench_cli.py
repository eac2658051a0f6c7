"""`keiba bench …`: measure speed and memory; parsing and printing only.

`data` times the data pipeline (generate, write, import, features, training) and measures the
simulated market; `ledger` counts settlements per second with concurrent writers; `themis` times
full decisions against the previous engine and the exact Kelly against SLSQP and penaltyblog;
`day` plays a twin race day on a fresh home and times it and its decisions; `serve` loads the
HTTP API's read routes on a served simulated home; `execution` buys through faulty IPAT twins
with the buying process killed and restarted, and counts duplicates, misses and mismatches.
Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.bench import ledger_bench
from keiba.app.day_bench import PARTS
from keiba.app.day_bench import bench_day as play_day
from keiba.app.execution_bench import ExecutionBenchSettings, run_execution_bench
from keiba.benchmarks import as_dicts, machine, run_benchmarks
from keiba.cli.common import JsonOption, RaceDateOption, config_of, err, out, print_json
from keiba.themis.bench import run_themis_benchmark
from keiba.themis.bench_profile import profile_decisions

__all__ = ["register"]


def bench_data(
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

    def say(step: str) -> None:
        if not as_json:
            err.print(f"[dim]{step}…[/]")

    report: dict[str, Any] = {
        "machine": machine(),
        "results": as_dicts(run_benchmarks(years, seed, jra2018, say, config.model)),
    }
    if as_json:
        print_json(report)
        return
    table = Table(title=f"keiba bench data on {report['machine']['cpus']} CPUs")
    for column in ("step", "seconds", "peak RSS (MB)", "detail"):
        table.add_column(column, justify="left" if column in ("step", "detail") else "right")
    for r in report["results"]:
        detail = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v:,}" for k, v in r["detail"].items()
        )
        table.add_row(r["step"], f"{r['seconds']:.2f}", f"{r['process_peak_rss_mb']:.0f}", detail)
    out.print(table)


def bench_themis(
    ctx: typer.Context,
    races: Annotated[int, typer.Option(help="Synthetic 18-runner races to time.", min=1)] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the instances.")] = 7,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference/--no-reference",
            help="Also time the previous engine on the same races (seconds per race).",
        ),
    ] = True,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Instead of timing, profile the same full decisions: each phase's CPU time "
            "and the Newton systems the joint solver factorised.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Time full decisions (all eight bet types; against the previous engine), one pool, and
    the exact Kelly against its previous version, SLSQP and penaltyblog (when installed)."""
    config_of(ctx)
    if profile:
        _print_profile(profile_decisions(races, seed), as_json)
        return
    if not as_json:
        err.print("[dim]timing Themis…[/]")
    result = run_themis_benchmark(races, seed, reference)
    if as_json:
        print_json(result)
        return
    for section in ("full_decision", "one_pool_decision", "single_pool_kelly"):
        table = Table(title=section.replace("_", " "))
        table.add_column("measure")
        table.add_column("value", justify="right")
        for name, value in _flat(result[section]):
            table.add_row(name, _cell(value))
        out.print(table)


def _print_profile(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    table = Table(title=f"Themis: {result['races']} full decisions profiled (CPU)")
    for column in ("phase", "total ms", "median ms", "calls"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name, phase in result["phases_cpu"].items():
        table.add_row(
            name, f"{phase['total_ms']:,.1f}", f"{phase['median_ms']:.2f}", f"{phase['calls']:,}"
        )
    out.print(table)
    out.print(f"Newton systems: {result['newton_systems']:,}", highlight=False)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _flat(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for name, value in values.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", value))
    return rows


def bench_ledger(
    url: Annotated[
        list[str] | None,
        typer.Option("--url", help="Ledger database(s) to measure (default: a temporary SQLite)."),
    ] = None,
    writers: Annotated[
        list[int] | None, typer.Option("--writers", help="Concurrent settling processes.")
    ] = None,
    settlements: Annotated[int, typer.Option(help="Tickets settled per run.", min=1)] = 2000,
    as_json: JsonOption = False,
) -> None:
    """Settlements per second with several processes settling at once."""
    results = ledger_bench(url, writers, settlements)
    if as_json:
        print_json([r.__dict__ for r in results])
        return
    table = Table(title="Ledger settlements per second")
    for name in ("database", "writers", "settlements", "seconds", "per second"):
        table.add_column(name, justify="left" if name == "database" else "right")
    for r in results:
        table.add_row(
            r.dialect, str(r.writers), f"{r.settlements:,}", r.seconds, f"{r.per_second:,}"
        )
    out.print(table)


def bench_day(
    ctx: typer.Context,
    date: RaceDateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Play a twin race day on a fresh home: its wall time and each decision's latency.

    --date is a day of the simulated world, by default its busiest (as keiba run --twin).
    """
    config = config_of(ctx)
    if not as_json:
        err.print("[dim]playing the twin day on a fresh home…[/]")
    report = {"machine": machine(), **play_day(config, date)}
    if as_json:
        print_json(report)
        return
    wall = report["wall_s"]
    out.print(
        f"{report['race_date']}: {report['races']} races {report['outcomes']}; wall "
        f"{wall['whole_day']} s (start-up {wall['start_up']} s, the day's steps {wall['steps']} s)",
        highlight=False,
    )
    for name, summary in report["latency"].items():
        if not summary["decisions"]:
            continue
        table = Table(title=f"decision latency, {name} ({summary['decisions']} decisions), ms")
        for column in ("", *PARTS, "total"):
            table.add_column(column, justify="left" if not column else "right")
        for q in ("p50_ms", "p99_ms"):
            table.add_row(q[:3], *(f"{summary[p][q]:,.1f}" for p in (*PARTS, "total")))
        out.print(table)


def bench_serve(
    ctx: typer.Context,
    years: Annotated[int, typer.Option(help="Simulated seasons in the served home.", min=1)] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 1,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients.", min=1)] = 20,
    rate: Annotated[float, typer.Option(help="Requests per second, in all.", min=1)] = 200.0,
    seconds: Annotated[float, typer.Option(help="How long to send.", min=1)] = 30.0,
    tickets: Annotated[int, typer.Option(help="Bets in the served ledger.", min=0)] = 2000,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Another checkout's src folder: its server is timed first, on the same home "
            "under the same load."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Serve a simulated home with `keiba serve` and time its read routes under load."""
    from keiba.app.serve_bench import bench_serve as run

    config_of(ctx)
    if baseline is not None and not (baseline / "keiba" / "__init__.py").is_file():
        raise typer.BadParameter(f"{baseline} holds no keiba package", param_hint="--baseline")

    def say(step: str) -> None:
        if not as_json:
            err.print(f"[dim]{step}…[/]")

    found = run(years, seed, clients, rate, seconds, tickets, say, baseline)
    report = {"machine": machine(), **found}
    if as_json:
        print_json(report)
        return
    if "baseline" in report:
        _serve_table(f"the baseline ({baseline})", report["baseline"], clients, rate, seconds)
    _serve_table(f"{report['races']:,} races", report, clients, rate, seconds)


def _serve_table(
    title: str, report: dict[str, Any], clients: int, rate: float, seconds: float
) -> None:
    table = Table(
        title=f"keiba bench serve: {title}, {clients} clients, {rate:g} req/s for {seconds:g} s"
    )
    for column in ("route", "requests", "errors", "req/s", "p50 (ms)", "p99 (ms)", "max (ms)"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for r in [*report["routes"], {"route": "all", **report["all"]}]:
        table.add_row(
            r["route"], f"{r['requests']:,}", str(r["errors"]), f"{r['rps']:.1f}",
            f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}",
        )  # fmt: skip
    out.print(table)
    before, after = report["load_average_1min"]
    out.print(f"load average (1 min): {before:.2f} → {after:.2f}", highlight=False)
    if report["server_cpu_ms_per_request"] is not None:
        note = (
            f"CPU per request: server {report['server_cpu_ms_per_request']:.2f} ms, "
            f"load generator {report['client_cpu_ms_per_request']:.2f} ms"
        )
        out.print(note, highlight=False)


def bench_execution(
    days: Annotated[int, typer.Option(help="Simulated race days.", min=1)] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the days, faults and kills.")] = 0,
    races: Annotated[int, typer.Option(help="Races a day.", min=1, max=12)] = 12,
    p_fault: Annotated[float, typer.Option(help="Chance of a fault per purchase.")] = 0.25,
    p_kill: Annotated[float, typer.Option(help="Chance of a planned SIGKILL per race.")] = 0.08,
    browser: Annotated[
        bool, typer.Option(help="Buy through the IPAT web broker in headless Chromium.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Buy race days through faulty IPAT twins, killing and restarting the buyer; check."""
    settings = ExecutionBenchSettings(
        days=days,
        seed=seed,
        races_per_day=races,
        p_fault=p_fault,
        p_kill=p_kill,
        browser=browser,
        timeout_s=3.0 if browser else 0.5,
    )
    say = None if as_json else (lambda line: err.print(f"[dim]{line}[/]"))
    report = {"machine": machine(), **run_execution_bench(settings, say).to_dict()}
    if as_json:
        print_json(report)
        return
    table = Table(title=f"keiba bench execution: {days} days, seed {seed}")
    table.add_column("")
    table.add_column("", justify="right")
    for name, value in _flat({k: v for k, v in report.items() if k != "machine"}):
        table.add_row(name, str(value))
    out.print(table)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("data")(bench_data)
    groups["bench"].command("themis")(bench_themis)
    groups["bench"].command("ledger")(bench_ledger)
    groups["bench"].command("day")(bench_day)
    groups["bench"].command("serve")(bench_serve)
    groups["bench"].command("execution")(bench_execution)

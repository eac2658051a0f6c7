"""The `keiba` command: wiring only. Each verb loads configuration, builds the adapters, calls
one library function and prints the result (a Rich table, or JSON with `--json`).

Commands are grouped like git or uv: `keiba data …`, `keiba model …`, `keiba bet …`,
`keiba backtest …`, `keiba bankroll …`, `keiba audit …`, `keiba monitor …`, `keiba bench …`,
plus `keiba demo` and `keiba info`. Heavy libraries (LightGBM, DuckDB, Polars) are imported
inside the verbs so `keiba --help` stays fast. Every error is one line on stderr and a non-zero
exit (keiba.cli.common.KeibaGroup).
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.cli import run_cli
from keiba.cli.common import (
    Context,
    DatasetOption,
    JsonOption,
    KeibaGroup,
    config_of,
    note,
    out,
    print_json,
    progress_bar,
)


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class DemoSource(StrEnum):
    SAMPLE = "sample"
    SIMULATED = "simulated"
    WAREHOUSE = "warehouse"


app = typer.Typer(
    name="keiba",
    cls=KeibaGroup,
    help="JRA horse racing: calibrated probabilities, blind bet decisions, honest measurement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

GROUPS: dict[str, str] = {
    "data": "Datasets: generate, import, export, collect from netkeiba, status, drop.",
    "model": "The win-probability model: train, evaluate, predict, fit the exotic discounts.",
    "bet": "Decide what to buy (Themis): one race, or the day's races as known now.",
    "backtest": "Walk-forward backtests, their reports, and Monte Carlo bankroll paths.",
    "bankroll": "The bankroll ledger: deposits, withdrawals, balance, history, tax report.",
    "audit": "The hash-chained audit log: verify it, export its head.",
    "monitor": "The drawdown monitor: its state, and resuming a stop.",
    "bench": "Measure speed and memory: data pipeline, ledger, Themis.",
}
"""Group name → help; each group is a Typer app filled by the command modules."""

COMMAND_MODULES: tuple[str, ...] = (
    "data_cli",
    "collect_cli",
    "model_cli",
    "walk_forward_cli",
    "decide",
    "today_cli",
    "backtest_cli",
    "report_cli",
    "simulate_cli",
    "bankroll_cli",
    "monitor_cli",
    "bench_cli",
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keiba")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _show_version(ctx: typer.Context, value: bool) -> None:
    if value:
        from keiba.common.config import resolve_home
        from keiba.common.errors import ConfigError

        out.print(f"keiba {_version()}", highlight=False)
        try:
            out.print(f"home: {resolve_home(ctx.params.get('home'))}", highlight=False)
        except ConfigError as e:  # a home that is a file is reported, not raised, here
            out.print(f"home: {e}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            is_eager=True,
            help="Data directory (default: $KEIBA_HOME, else the user data directory, "
            "e.g. ~/.local/share/keiba).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML configuration (default: <home>/keiba.yaml)."),
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option("--log-level", help="Log level; debug also prints tracebacks."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and the home directory, and exit.",
        ),
    ] = False,
) -> None:
    ctx.obj = Context(home, config, log_level.value if log_level else None)


@app.command()
def info(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where keiba keeps things: home, configuration, warehouse, ledger, object store, MLflow."""
    from keiba.cli.info import gather_info

    config = config_of(ctx)
    given = ctx.find_root().obj.config_path
    facts = gather_info(config, _version(), None if given is None else str(given))
    if as_json:
        print_json(facts)
        return
    width = max(len(key) for key in facts)
    for key, value in facts.items():
        out.print(f"{key.replace('_', ' '):<{width}}  {value}", highlight=False, markup=False)


@app.command()
def demo(
    ctx: typer.Context,
    source: Annotated[
        DemoSource | None,
        typer.Option(
            help="sample: the shipped 2018 JRA season (default); simulated: a generated world; "
            "warehouse: the selected dataset."
        ),
    ] = None,
    years: Annotated[int | None, typer.Option(help="Simulated seasons.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulated world.")] = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the main job end to end: data, features, model, bets, ledger, report."""
    overrides: dict[str, Any] = {}
    if dataset is not None and source not in (None, DemoSource.WAREHOUSE):
        raise typer.BadParameter("--dataset applies to --source warehouse", param_hint="--dataset")
    if dataset is not None:
        source = DemoSource.WAREHOUSE
    chosen = source.value if source is not None else None
    for key, value in (("source", chosen), ("years", years), ("seed", seed)):
        if value is not None:
            overrides.setdefault("demo", {})[key] = value
    config = config_of(ctx, overrides, dataset=dataset)

    def action() -> Any:
        from keiba.app.replay import run_demo
        from keiba.common.clock import SystemClock

        with progress_bar(not as_json) as progress:
            return run_demo(config, SystemClock(), progress)

    summary = action()
    if as_json:
        print_json(summary.to_dict())
        return
    _print_demo_summary(summary)


def _print_demo_summary(summary: Any) -> None:
    from keiba.evaluator.evaluation import NAMES

    names = NAMES

    out.print(summary.answer, highlight=False, markup=False, soft_wrap=False)
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
    from keiba.evaluator.backtest_metrics import interval_text

    rate = interval_text(summary.return_rate_interval)
    hit = interval_text(summary.hit_rate_interval)
    for label, value in (
        ("test period", " to ".join(summary.test_period)),
        ("bets / races bet", f"{summary.bets:,} / {summary.races_bet:,}"),
        ("staked", f"{summary.staked_yen:,} yen"),
        ("returned", f"{summary.returned_yen:,} yen"),
        ("return rate (回収率), 95% CI", rate),
        ("hit rate (的中率), 95% CI", hit),
        (
            "bankroll",
            f"{summary.starting_bankroll_yen:,} → {summary.final_bankroll_yen:,} yen",
        ),
        ("max drawdown", f"{summary.max_drawdown:.1%}"),
    ):
        bets.add_row(label, value)
    out.print(bets)
    for caveat in summary.caveats:
        note(caveat)
    out.print(f"Report: {summary.report_path}", highlight=False)


app.command(name="run")(run_cli.run)


def _register_command_modules() -> None:
    """Each group is a Typer app; the command modules add their verbs with `register(groups)`."""
    groups = {
        name: typer.Typer(name=name, help=text, no_args_is_help=True)
        for name, text in GROUPS.items()
    }
    for module in COMMAND_MODULES:
        importlib.import_module(f"keiba.cli.{module}").register(groups)
    for name, group in groups.items():
        app.add_typer(group, name=name)


_register_command_modules()

if __name__ == "__main__":
    app()

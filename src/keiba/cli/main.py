"""The `keiba` command: the root, its options, and where each verb and group is defined.

Commands are grouped like git or uv: `keiba data …`, `keiba model …`, `keiba bet …`,
`keiba backtest …`, `keiba bankroll …`, `keiba audit …`, `keiba monitor …`, `keiba bench …`,
`keiba release …`, plus `keiba run`, `keiba demo` and `keiba info`. Each command module
parses, calls one keiba.app function and prints (a Rich table, or JSON with `--json`). A module
is imported only when one of its commands is used: `keiba --help` lists them from `VERBS` and
`GROUPS` without loading LightGBM, DuckDB or Polars. Every error is one line on stderr and a
non-zero exit (keiba.cli.console.KeibaGroup).
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from keiba.cli.console import Context, KeibaGroup, out
from keiba.common.logging import configure_logging

__all__ = ["GROUPS", "GROUP_MODULES", "VERBS", "app"]

VERBS: dict[str, tuple[str, str]] = {
    "info": (
        "info",
        "Where keiba keeps things: home, configuration, warehouse, ledger, object store, MLflow.",
    ),
    "demo": (
        "demo_cli",
        "Run the main job end to end: data, features, model, bets, ledger, report.",
    ),
    "run": (
        "run_cli",
        "Run a race day: card, odds, decisions, paper purchases and settlement per race.",
    ),
    "serve": ("serve_cli", "Serve the HTTP API, authenticated by tokens (keiba token create)."),
}
"""Top-level verb → (the module defining a function of that name, the first line of its help)."""

GROUPS: dict[str, str] = {
    "data": "Datasets: generate, import, export, collect from netkeiba, status, drop.",
    "model": "The win-probability model: train, evaluate, predict, fit the exotic discounts.",
    "bet": "Decide what to buy (Themis): one race, or the day's races as known now.",
    "backtest": "Walk-forward backtests, their reports, and Monte Carlo bankroll paths.",
    "bankroll": "The bankroll ledger: deposits, withdrawals, balance, history, tax report.",
    "audit": "The hash-chained audit log: verify it, export its head.",
    "monitor": "The drawdown monitor: its state, and resuming a stop.",
    "bench": "Measure speed and memory: data pipeline, ledger, Themis.",
    "token": "The HTTP API's tokens: create (shown once), list, revoke.",
    "release": "Releases: the model and policy a race day runs; promote, roll back, shadow.",
}
"""Group name → help; each group is a Typer app filled by its command modules."""

GROUP_MODULES: dict[str, tuple[str, ...]] = {
    "data": ("data_cli", "collect_cli"),
    "model": ("model_cli", "walk_forward_cli", "tune_cli", "decide"),
    "bet": ("decide", "today_cli"),
    "backtest": ("backtest_cli", "report_cli", "simulate_cli"),
    "bankroll": ("bankroll_cli",),
    "audit": ("bankroll_cli",),
    "monitor": ("monitor_cli",),
    "bench": ("bench_cli",),
    "token": ("serve_cli",),
    "release": ("release_cli",),
}
"""Group name → the modules whose `register(groups)` add its verbs, in the order listed."""


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _holder() -> typer.Typer:
    """A Typer app built as the root is, to turn a verb or a group into a click command."""
    return typer.Typer(pretty_exceptions_enable=False, rich_markup_mode=None)


def _load(name: str) -> Any:
    """The click command of verb or group `name`, from its module(s)."""
    holder = _holder()
    if name in VERBS:
        module = importlib.import_module(f"keiba.cli.{VERBS[name][0]}")
        holder.command(name=name)(getattr(module, name))
    else:
        groups = {
            group: typer.Typer(name=group, help=text, no_args_is_help=True)
            for group, text in GROUPS.items()
        }
        for module_name in GROUP_MODULES[name]:
            importlib.import_module(f"keiba.cli.{module_name}").register(groups)
        holder.add_typer(groups[name], name=name)
    return typer.main.get_group(holder).commands[name]


class KeibaRoot(KeibaGroup):
    """The root command: a verb or group is loaded from its module when it is first used."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*VERBS, *GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and (cmd_name in VERBS or cmd_name in GROUPS):
            self.commands[cmd_name] = _load(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands and their help from `VERBS` and `GROUPS`, as click lists them, without
        importing a command module."""
        helps = {**{name: text for name, (_, text) in VERBS.items()}, **GROUPS}
        limit = formatter.width - 6 - max(len(name) for name in helps)
        rows = [
            (name, typer.core.TyperCommand(name, help=text).get_short_help_str(limit))
            for name, text in helps.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="keiba",
    cls=KeibaRoot,
    help="JRA horse racing: calibrated probabilities, blind bet decisions, honest measurement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(ctx: typer.Context, value: bool) -> None:
    if value:
        # deferred: only --version reads the configuration's home; `keiba --help` stays fast
        from keiba.app.info import version_and_home

        version, home = version_and_home(ctx.params.get("home"))
        out.print(f"keiba {version}", highlight=False)
        out.print(f"home: {home}", highlight=False)
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
    # Log events go to stderr from the start, so that a command which never reads the
    # configuration (some benchmarks) keeps stdout for its output; reading it reconfigures.
    configure_logging(log_level.value if log_level else "info")


if __name__ == "__main__":
    app()

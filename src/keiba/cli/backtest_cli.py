"""`keiba backtest`: replay a period through the live code path (keiba.evaluator.backtest)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from keiba.cli.common import (
    JsonOption,
    config_of,
    err,
    out,
    print_json,
    progress_bar,
    run_reporting_errors,
)
from keiba.common.errors import KeibaError

__all__ = ["register"]


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise KeibaError(f"{option} must be a date like 2018-03-01, was {text!r}") from e


def register(app: typer.Typer) -> None:
    """Add `backtest` to the `keiba` command."""

    @app.command()
    def backtest(
        ctx: typer.Context,
        date_from: Annotated[str, typer.Option("--from", help="First day to replay (ISO date).")],
        date_to: Annotated[str, typer.Option("--to", help="Last day to replay (ISO date).")],
        source: Annotated[
            str,
            typer.Option(
                help="'warehouse': the data already imported; 'sample': import the shipped "
                "2018 JRA season first."
            ),
        ] = "warehouse",
        bankroll: Annotated[
            int | None, typer.Option(help="Starting bankroll in yen (backtest.bankroll_yen).")
        ] = None,
        drift: Annotated[
            str | None,
            typer.Option(help="Late-odds model where only final odds exist: none | lognormal."),
        ] = None,
        drift_sigma: Annotated[
            float | None, typer.Option(help="σ of the lognormal late-odds drift.")
        ] = None,
        monitor: Annotated[
            bool | None,
            typer.Option("--monitor/--no-monitor", help="Run the drawdown monitor on Themis."),
        ] = None,
        out_dir: Annotated[
            Path | None, typer.Option("--out", help="Run directory (default under home).")
        ] = None,
        report: Annotated[
            bool, typer.Option("--report/--no-report", help="Write the HTML report too.")
        ] = True,
        as_json: JsonOption = False,
    ) -> None:
        """Walk-forward backtest: monthly retraining, Themis, paper broker, own ledger."""
        from keiba.common.clock import SystemClock

        overrides: dict[str, Any] = {}
        if bankroll is not None:
            overrides["bankroll_yen"] = bankroll
        if monitor is not None:
            overrides["monitor"] = monitor
        drift_overrides: dict[str, Any] = {}
        if drift is not None:
            drift_overrides["model"] = drift
        if drift_sigma is not None:
            drift_overrides["sigma"] = drift_sigma
        if drift_overrides:
            overrides["odds_drift"] = drift_overrides

        def action() -> dict[str, Any]:
            from keiba.evaluator.backtest import run_backtest

            if source not in ("warehouse", "sample"):
                raise KeibaError(f"--source must be 'warehouse' or 'sample', was {source!r}")
            first, last = _date(date_from, "--from"), _date(date_to, "--to")
            config = config_of(ctx, {"backtest": overrides} if overrides else None)
            if source == "sample":
                _import_sample(config)
            with progress_bar(not as_json) as progress:
                result = run_backtest(
                    config, SystemClock(), first, last, progress=progress, run_dir=out_dir
                )
            summary = dict(result.result)
            summary["directory"] = str(result.directory)
            if report:
                from keiba.evaluator.backtest_frames import BacktestRun
                from keiba.evaluator.backtest_report import write_backtest_report

                path = write_backtest_report(
                    BacktestRun.load(result.directory), result.directory / "report.html"
                )
                summary["report_path"] = str(path)
            return summary

        summary = run_reporting_errors(action)
        if as_json:
            print_json(summary)
            return
        from keiba.cli.report_cli import summary_table

        out.print(summary_table(summary))
        for caveat in summary["caveats"]:
            err.print(f"[yellow]caveat:[/] {caveat}", highlight=False, soft_wrap=True)
        out.print(f"run: {summary['directory']}", highlight=False)
        if "report_path" in summary:
            out.print(f"report: {summary['report_path']}", highlight=False)


def _import_sample(config: Any) -> None:
    from keiba.common.storage import DuckDBWarehouse
    from keiba.evaluator.main_job import load_sample

    warehouse = DuckDBWarehouse(config.duckdb_path)
    try:
        load_sample(warehouse)
    finally:
        warehouse.close()

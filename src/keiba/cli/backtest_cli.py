"""`keiba backtest run`: replay a period through the live code path (keiba.app.replay)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    config_of,
    out,
    parse_date,
    print_json,
    progress_bar,
)
from keiba.common.errors import KeibaError

__all__ = ["register"]


class BacktestSource(StrEnum):
    WAREHOUSE = "warehouse"
    SAMPLE = "sample"


def register(groups: dict[str, typer.Typer]) -> None:
    """Add `backtest run` to the `keiba` command."""

    @groups["backtest"].command("run")
    def backtest(
        ctx: typer.Context,
        date_from: Annotated[
            dt.date, typer.Option("--from", parser=parse_date, help="First day to replay.")
        ],
        date_to: Annotated[
            dt.date, typer.Option("--to", parser=parse_date, help="Last day to replay.")
        ],
        source: Annotated[
            BacktestSource,
            typer.Option(
                help="warehouse: the selected dataset; sample: the shipped 2018 JRA season."
            ),
        ] = BacktestSource.WAREHOUSE,
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
        dataset: DatasetOption = None,
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
            from keiba.app.replay import run_backtest

            first, last = date_from, date_to
            config = config_of(ctx, {"backtest": overrides} if overrides else None, dataset=dataset)
            if source is BacktestSource.SAMPLE:
                if dataset is not None:
                    raise KeibaError("--dataset applies to --source warehouse, not sample")
                from keiba.evaluator.main_job import load_sample_dataset

                config = load_sample_dataset(config, SystemClock())
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

        summary = action()
        if as_json:
            print_json(summary)
            return
        from keiba.cli.report_cli import print_summary

        print_summary(summary, summary["caveats"])
        out.print(f"run: {summary['directory']}", highlight=False)
        if "report_path" in summary:
            out.print(f"report: {summary['report_path']}", highlight=False)

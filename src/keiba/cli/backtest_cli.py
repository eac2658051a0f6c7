"""`keiba backtest run`: replay a period through the live code path (keiba.app.backtests);
`keiba backtest sweep`: backtests over a grid of settings, shared among a job's tasks
(keiba.app.backtest_sweep)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from keiba.app.backtest_sweep import load_grid, run_sweep_task
from keiba.app.backtests import backtest as run_backtest
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    config_of,
    out,
    parse_date,
    print_json,
    progress_bar,
)
from keiba.cli.report_cli import print_summary
from keiba.common.errors import KeibaError

__all__ = ["register"]


class BacktestSource(StrEnum):
    WAREHOUSE = "warehouse"
    SAMPLE = "sample"


def register(groups: dict[str, typer.Typer]) -> None:
    """Add `backtest run` and `backtest sweep` to the `keiba` command."""
    groups["backtest"].command("sweep")(sweep)

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
        model: Annotated[
            str | None,
            typer.Option(
                "--model",
                help="Replay this stored model version on the days after its training instead "
                "of retraining monthly (what a release's gate runs).",
            ),
        ] = None,
        dataset: DatasetOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Walk-forward backtest: monthly retraining (or one stored model replayed), Themis,
        paper broker, own ledger."""
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

        config = config_of(ctx, {"backtest": overrides} if overrides else None, dataset=dataset)
        sample = source is BacktestSource.SAMPLE
        if sample and dataset is not None:
            raise KeibaError("--dataset applies to --source warehouse, not sample")
        if sample and model is not None:
            raise KeibaError("--model applies to --source warehouse, not sample")
        with progress_bar(not as_json) as progress:
            summary = run_backtest(
                config,
                date_from,
                date_to,
                sample=sample,
                run_dir=out_dir,
                with_report=report,
                progress=progress,
                model=model,
            )
        if as_json:
            print_json(summary)
            return
        print_summary(summary, summary["caveats"])
        out.print(f"run: {summary['directory']}", highlight=False)
        if "report_path" in summary:
            out.print(f"report: {summary['report_path']}", highlight=False)


def sweep(
    ctx: typer.Context,
    grid: Annotated[
        Path,
        typer.Option(
            "--grid",
            help='JSON: {"from": DAY, "to": DAY, "grid": {"section.key": [values, …]}}.',
        ),
    ],
    task_index: Annotated[
        int,
        typer.Option(
            "--task-index",
            envvar="CLOUD_RUN_TASK_INDEX",
            min=0,
            help="This task's number, from 0 (a Cloud Run job task's own).",
        ),
    ] = 0,
    task_count: Annotated[
        int,
        typer.Option(
            "--task-count",
            envvar="CLOUD_RUN_TASK_COUNT",
            min=1,
            help="How many tasks share the sweep.",
        ),
    ] = 1,
    execution: Annotated[
        str | None,
        typer.Option(
            "--execution",
            envvar="CLOUD_RUN_EXECUTION",
            help="Names this run of the sweep (the same for all its tasks); without it a grid "
            "run again on the dataset reuses the points done before.",
        ),
    ] = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Backtest every point of a grid of settings (this task's share of them); the task that
    finds every point done writes the merged report into the object store."""
    try:
        text = grid.read_text(encoding="utf-8")
    except OSError as e:
        raise KeibaError(f"cannot read the grid {grid}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise KeibaError(f"the grid {grid} is not UTF-8 text") from None
    spec = load_grid(text, str(grid))
    config = config_of(ctx, dataset=dataset)
    done = run_sweep_task(config, spec, task_index, task_count, execution=execution)
    if as_json:
        print_json(done)
        return
    out.print(
        f"sweep {done['sweep_id']}: task {task_index} of {task_count} ran points "
        f"{done['ran'] or 'none'}, found {done['present'] or 'none'} done",
        highlight=False,
    )
    if done["report"]:
        out.print(f"report: {done['report']}", highlight=False)
    else:
        out.print("the report is written by the task that finishes last", highlight=False)

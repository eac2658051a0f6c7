"""`keiba backtest report`: the HTML report of a backtest run (keiba.app.backtests.report);
parsing and printing only. `summary_table` is the terminal summary of a run's result.json,
shared with `keiba backtest run`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from keiba.app.backtests import report as write_report
from keiba.app.backtests import strategy_summaries
from keiba.cli.common import (
    JsonOption,
    config_of,
    err,
    note,
    out,
    print_json,
    progress_bar,
)
from keiba.evaluator.answer import backtest_answer
from keiba.evaluator.backtest_metrics import percent_text

__all__ = ["print_summary", "register", "strategy_summaries", "summary_table"]

SHORT_NAMES = {
    "themis": "Themis",
    "favourite": "favourite",
    "top_pick": "top pick",
    "themis_market": "Themis (market)",
}
"""Strategy key → a name short enough for an 80-column table."""


def print_summary(result: dict[str, Any], caveats: list[str]) -> None:
    """The terminal summary of a run: the answer first, then the table, then the caveats."""
    out.print(backtest_answer(result), highlight=False, markup=False, soft_wrap=False)
    out.print(summary_table(result))
    for caveat in caveats:
        note(caveat)


def _ci(rate: Mapping[str, Any] | None) -> str:
    if not rate or rate.get("low") is None or rate.get("high") is None:
        return "—"
    return f"{rate['low']:.1%}–{rate['high']:.1%}"


def summary_table(result: dict[str, Any]) -> Table:
    """A Rich table of a backtest's result.json within 80 columns: one row per strategy with
    its bets, return rate and its 95% interval, hit rate, profit and max drawdown (the Sharpe
    ratios are in `--json` and the report)."""
    period = result.get("period") or {}
    table = Table(
        title=(
            f"{period.get('from', '?')} to {period.get('to', '?')}: "
            f"{int(result.get('races') or 0):,} races, start "
            f"{int(result.get('start_yen') or 0):,} yen"
        ),
        box=box.SIMPLE_HEAD,
    )
    for name in ("strategy", "bets", "return", "95% CI", "hit rate", "profit", "max DD"):
        table.add_column(name, justify="left" if name == "strategy" else "right", no_wrap=True)
    for row in strategy_summaries(result):
        dd = row["max_drawdown"]
        table.add_row(
            SHORT_NAMES.get(row["strategy"], str(row["label"])),
            f"{row['bets']:,}",
            percent_text((row["return_rate"] or {}).get("value")),
            _ci(row["return_rate"]),
            percent_text((row["hit_rate"] or {}).get("value")),
            f"{row['profit_yen']:+,}" if row["bets"] else "—",
            "—" if dd is None or not row["bets"] else f"{dd:.1%}",
        )
    return table


def register(groups: dict[str, typer.Typer]) -> None:
    """Add `backtest report` to the `keiba` command."""

    @groups["backtest"].command("report")
    def report(
        ctx: typer.Context,
        run_dir: Annotated[
            str | None,
            typer.Argument(
                metavar="[RUN_DIR]",
                help="A backtest run directory, or 'latest' (default: the latest under "
                "<home>/backtests).",
            ),
        ] = None,
        out_dir: Annotated[
            Path | None,
            typer.Option("--out", help="Directory for report.html (default: the run directory)."),
        ] = None,
        seasons: Annotated[
            int, typer.Option(help="Monte Carlo seasons per scenario.", min=1)
        ] = 2_000,
        seed: Annotated[int, typer.Option(help="Monte Carlo seed.")] = 0,
        as_json: JsonOption = False,
    ) -> None:
        """Write the HTML report of a backtest run and print its summary."""
        config = config_of(ctx)
        with progress_bar(not as_json) as progress:
            summary = write_report(
                config, run_dir, out_dir, seasons=seasons, seed=seed, progress=progress
            )
        result = summary.pop("result")
        if as_json:
            print_json(summary)
            return
        print_summary(result, summary["caveats"])
        monte_carlo = summary["monte_carlo"]
        if monte_carlo["empirical"]:
            out.print(
                f"Monte Carlo on {monte_carlo['source']}.",
                highlight=False,
                markup=False,
                soft_wrap=False,
            )
        else:
            note("no Monte Carlo: " + monte_carlo["source"].removeprefix("nothing: "))
        out.print(f"Report: {summary['report']}", highlight=False, markup=False)
        err.print(f"written in {summary['seconds']:.1f} s", highlight=False)

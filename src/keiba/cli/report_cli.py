"""`keiba backtest report`: the HTML report of a backtest run (keiba.evaluator.backtest_report);
wiring only. `summary_table` is the terminal summary of a run's result.json, shared with
`keiba backtest run`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from keiba.cli.common import (
    JsonOption,
    config_of,
    err,
    note,
    out,
    print_json,
    progress_bar,
)

__all__ = ["print_summary", "register", "strategy_summaries", "summary_table"]

_ORDER = ("themis", "favourite", "top_pick", "themis_market")  # as backtest_frames.STRATEGIES


def _ordered(metrics: Mapping[str, Any]) -> list[str]:
    return sorted(
        metrics,
        key=lambda s: (_ORDER.index(s), "") if s in _ORDER else (len(_ORDER), s),
    )


def strategy_summaries(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One JSON-ready row per strategy of a run's result.json, in report order."""
    metrics: Mapping[str, Any] = result.get("metrics") or {}
    rows = []
    for key in _ordered(metrics):
        m = metrics[key] or {}
        dd = m.get("max_drawdown") or {}
        rows.append(
            {
                "strategy": key,
                "label": m.get("label", key),
                "bets": int(m.get("bets") or 0),
                "races_bet": int(m.get("races_bet") or 0),
                "races": int(m.get("races") or 0),
                "staked_yen": int(m.get("staked_yen") or 0),
                "returned_yen": int(m.get("returned_yen") or 0),
                "profit_yen": int(m.get("profit_yen") or 0),
                "end_yen": m.get("end_yen"),
                "return_rate": m.get("return_rate"),
                "hit_rate": m.get("hit_rate"),
                "max_drawdown": dd.get("fraction"),
                "max_drawdown_days": dd.get("days"),
                "sharpe_annualised": (m.get("sharpe") or {}).get("annualised"),
            }
        )
    return rows


SHORT_NAMES = {
    "themis": "Themis",
    "favourite": "favourite",
    "top_pick": "top pick",
    "themis_market": "Themis (market)",
}
"""Strategy key → a name short enough for an 80-column table."""


def print_summary(result: dict[str, Any], caveats: list[str]) -> None:
    """The terminal summary of a run: the answer first, then the table, then the caveats."""
    from keiba.evaluator.answer import backtest_answer

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
    from keiba.evaluator.backtest_metrics import percent_text

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

        def action() -> dict[str, Any]:
            from keiba.evaluator.backtest_frames import BacktestRun, latest_run
            from keiba.evaluator.backtest_report import (
                run_kelly_fraction,
                run_monte_carlo,
                sample_size_caveats,
                write_bundle_report,
            )
            from keiba.evaluator.monte_carlo import MonteCarloParams

            began = time.perf_counter()
            if run_dir is None or run_dir == "latest":
                directory = latest_run(config.home / "backtests")
            else:
                directory = Path(run_dir)
            run = BacktestRun.load(directory)
            base = MonteCarloParams(
                unit_yen=config.themis.unit_yen,
                min_stake_yen=config.themis.min_stake_yen,
                ev_min=config.themis.ev_threshold,
            )
            with progress_bar(not as_json) as progress:
                bundle = run_monte_carlo(
                    run,
                    seasons=seasons,
                    seed=seed,
                    kelly_fraction=run_kelly_fraction(run.result) or config.themis.kelly_fraction,
                    base=base,
                    progress=progress,
                )
            path = write_bundle_report(run, (out_dir or directory) / "report.html", bundle)
            mc = bundle.result.as_dict()
            return {
                "run": str(directory),
                "run_id": run.result.get("run_id", directory.name),
                "period": run.result.get("period"),
                "report": str(path),
                "strategies": strategy_summaries(run.result),
                "caveats": [*(run.result.get("caveats") or []), *sample_size_caveats(run)],
                "monte_carlo": {
                    "source": bundle.source,
                    "empirical": bundle.empirical,
                    "kelly_fraction": bundle.kelly_fraction,
                    **mc,
                    "fans": [
                        {"fraction": f.fraction, "overestimate": f.overestimate, "p_ruin": f.p_ruin}
                        for f in bundle.fans
                    ],
                    "ruin_curve": bundle.ruin.as_dict(),
                },
                "result": run.result,
                "seconds": round(time.perf_counter() - began, 3),
            }

        summary = action()
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

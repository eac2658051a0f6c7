"""`keiba demo`: the main job end to end (keiba.app.backtests.demo), and its summary."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.backtests import demo as run_demo
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    config_of,
    note,
    out,
    print_json,
    progress_bar,
)
from keiba.evaluator.backtest_metrics import interval_text
from keiba.evaluator.evaluation import NAMES
from keiba.evaluator.main_job import MainJobSummary

__all__ = ["demo"]


class DemoSource(StrEnum):
    SAMPLE = "sample"
    SIMULATED = "simulated"
    WAREHOUSE = "warehouse"


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
    with progress_bar(not as_json) as progress:
        summary = run_demo(config, progress)
    if as_json:
        print_json(summary.to_dict())
        return
    _print_demo_summary(summary)


def _print_demo_summary(summary: MainJobSummary) -> None:
    out.print(summary.answer, highlight=False, markup=False, soft_wrap=False)
    table = Table(title="Model against the market on the same test races")
    for column in ("", "races", "winner log-loss", "pseudo-R²", "Brier"):
        table.add_column(column, justify="right" if column else "left")
    for key, s in summary.scores.items():
        table.add_row(
            NAMES[key],
            f"{s['races']:,}",
            f"{s['log_loss']:.4f}",
            f"{s['pseudo_r2']:.4f}",
            f"{s['brier']:.4f}",
        )
    out.print(table)
    for key, d in summary.delta_r2_vs_market.items():
        out.print(
            f"ΔR² {NAMES[key]} − market: {d['delta']:+.4f} "
            f"(95% race bootstrap {d['low']:+.4f} to {d['high']:+.4f})"
        )
    c = summary.combination
    out.print(f"combination c ∝ f^α q^β: α = {c['alpha']:.3f}, β = {c['beta']:.3f}")
    bets = Table(title="Win bets by Themis, settled in the demo ledger")
    bets.add_column("")
    bets.add_column("", justify="right")
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

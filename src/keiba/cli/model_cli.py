"""`keiba model train|evaluate|predict`: the model against the market.

Parsing and printing only; the work is in keiba.app.models (over keiba.model_training,
keiba.evaluator.evaluation and keiba.predictor).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.models import evaluate_model, predict, train
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    TrackingOption,
    config_of,
    note,
    out,
    parse_date,
    print_json,
    progress_bar,
)

__all__ = ["register"]

ModelOption = Annotated[
    str | None, typer.Option("--model", help="Model version (default: the latest trained).")
]

_NAMES = {
    "p_market": "market",
    "p_model": "model",
    "p_combined": "model + market",
    "p_true": "true probabilities",
    "p_knowable": "knowable from the past",
}


def train_command(
    ctx: typer.Context,
    train_from: Annotated[
        dt.date | None,
        typer.Option(
            "--from", parser=parse_date, help="First day the fundamental model learns from."
        ),
    ] = None,
    train_to: Annotated[
        dt.date | None,
        typer.Option("--to", parser=parse_date, help="Last day the fundamental model learns from."),
    ] = None,
    combine_from: Annotated[
        dt.date | None,
        typer.Option(
            "--combine-from", parser=parse_date, help="First day of the market stage's period."
        ),
    ] = None,
    combine_to: Annotated[
        dt.date | None,
        typer.Option(
            "--combine-to", parser=parse_date, help="Last day of the market stage's period."
        ),
    ] = None,
    tracking_uri: TrackingOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train the fundamental model and the market stage; store both and log the MLflow run.

    Default periods split the warehouse's race days 50% / 25% / 25% (train / combine / test).
    """
    config = config_of(ctx, dataset=dataset)
    with progress_bar(not as_json) as progress:
        result = train(
            config,
            train_from,
            train_to,
            combine_from,
            combine_to,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    if as_json:
        print_json(result)
        return
    p = result["periods"]
    c = result["combination"]
    table = Table(title=f"Trained {result['model_version']}")
    table.add_column("")
    table.add_column("", justify="right")
    for label, value in (
        ("fundamental model", f"{p['train_from']} to {p['train_to']}"),
        ("early stopping on", f"{p['valid_from']} to {p['train_to']}"),
        ("best iteration", str(result["best_iteration"])),
        ("market stage", f"{p['combine_from']} to {p['combine_to']} ({c['races']:,} races)"),
        ("c ∝ f^α q^β", f"α = {c['alpha']:.3f}, β = {c['beta']:.3f}"),
        ("feature version", result["feature_version"]),
    ):
        table.add_row(label, value)
    out.print(table)
    out.print(f"stored at: {result['stored_at']}", highlight=False)
    mlflow = result["mlflow"]
    out.print(f"MLflow run: {mlflow['run_id']} in {mlflow['tracking_uri']}", highlight=False)


def evaluate_command(
    ctx: typer.Context,
    model: ModelOption = None,
    date_from: Annotated[
        dt.date | None, typer.Option("--from", parser=parse_date, help="First race day.")
    ] = None,
    date_to: Annotated[
        dt.date | None, typer.Option("--to", parser=parse_date, help="Last race day.")
    ] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of races.", min=10)] = 1000,
    tracking_uri: TrackingOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score market, model and combination on the same test races (default: every race day
    after the model's combination period)."""
    config = config_of(ctx, dataset=dataset)

    result = evaluate_model(
        config, model, date_from, date_to, resamples=resamples, tracking_uri=tracking_uri
    )
    if as_json:
        print_json(result)
        return
    _print_evaluation(result)


def _print_evaluation(result: dict[str, Any]) -> None:
    table = Table(
        title=f"{result['model_version']} on {' to '.join(result['test_period'])} "
        f"({result['races']:,} races, same for every row)"
    )
    for column in ("", "winner log-loss", "pseudo-R²", "Brier"):
        table.add_column(column, justify="right" if column else "left")
    for key, s in result["scores"].items():
        table.add_row(
            _NAMES[key], f"{s['log_loss']:.4f}", f"{s['pseudo_r2']:.4f}", f"{s['brier']:.4f}"
        )
    out.print(table)
    for key, d in result["delta_r2_vs_market"].items():
        out.print(
            f"ΔR² {_NAMES[key]} − market: {d['delta']:+.4f} "
            f"(95% race bootstrap {d['low']:+.4f} to {d['high']:+.4f})"
        )
    t = result["top_pick_win_rate"]
    out.print(
        f"top pick wins: favourite {t['favourite']:.1%}, model {t['model']:.1%}, "
        f"combination {t['combined']:.1%}"
    )
    cond = Table(title="Calibration where the model disagrees with the market (mean p vs wins)")
    for column in ("runners", "observed", "model", "market", "model + market"):
        cond.add_column(column, justify="right")
    cond.add_column("", justify="left")
    for side, c in result["conditional_calibration"].items():
        cond.add_row(
            f"{c['runners']:,}",
            f"{c['observed']:.4f}",
            f"{c['predicted']['p_model']:.4f}",
            f"{c['predicted']['p_market']:.4f}",
            f"{c['predicted']['p_combined']:.4f}",
            side.replace("_", " "),
        )
    out.print(cond)
    for by, rows in result["breakdowns"].items():
        part = Table(title=f"By {by.replace('_', ' ')}")
        for column in (by, "races", "market R²", "model R²", "combined R²", "ΔR²"):
            part.add_column(column, justify="left" if column == by else "right")
        for r in rows:
            part.add_row(
                str(r[by]),
                f"{r['races']:,}",
                f"{r['market_pseudo_r2']:.4f}",
                f"{r['model_pseudo_r2']:.4f}",
                f"{r['combined_pseudo_r2']:.4f}",
                f"{r['delta_r2_combined']:+.4f}",
            )
        out.print(part)
    for caveat in result.get("caveats", []):
        note(caveat)
    if "mlflow" in result:
        out.print(f"MLflow run {result['mlflow']['run_id']}", highlight=False)


def predict_command(
    ctx: typer.Context,
    model: ModelOption = None,
    date_from: Annotated[
        dt.date | None, typer.Option("--from", parser=parse_date, help="First race day.")
    ] = None,
    date_to: Annotated[
        dt.date | None, typer.Option("--to", parser=parse_date, help="Last race day.")
    ] = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write win probabilities of a model version to the warehouse table `predictions`
    (default period: every race day after the model's combination period). Re-running
    replaces the rows of the same races and version."""
    config = config_of(ctx, dataset=dataset)

    result = predict(config, model, date_from, date_to)
    if as_json:
        print_json(result)
        return
    out.print(
        f"{result['rows']:,} probabilities for {result['races']:,} races "
        f"({result['from']} to {result['to']}) from {result['model_version']} "
        f"→ table {result['table']}",
        highlight=False,
    )
    if result["unpriced_races"]:
        out.print(
            f"{result['unpriced_races']:,} races without final odds for every starter are not "
            "priced (p_model null): the model boosts from the market.",
            highlight=False,
        )


def register(groups: dict[str, typer.Typer]) -> None:
    model = groups["model"]
    model.command("train")(train_command)
    model.command("evaluate")(evaluate_command)
    model.command("predict")(predict_command)

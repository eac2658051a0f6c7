"""`keiba model tune`: LightGBM hyperparameters searched on walk-forward folds (Optuna).

Parsing and printing only; the work is in keiba.app.tuning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.tuning import SEARCH_SPACE, tune_model, write_model_params
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    TrackingOption,
    config_of,
    out,
    print_json,
    progress_bar,
)
from keiba.cli.walk_forward_cli import parse_years

__all__ = ["register"]


def tune(
    ctx: typer.Context,
    years: Annotated[
        str,
        typer.Option(
            "--years",
            metavar="YYYY[-YYYY][,…]",
            help="The walk-forward's test years the trials are scored on; keep the years you "
            "report out of them.",
        ),
    ],
    trials: Annotated[int, typer.Option(help="Trials (one at a time).", min=1, max=1000)] = 20,
    seed: Annotated[int, typer.Option(help="The sampler's seed.", min=0)] = 0,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            metavar="FILE",
            help="Merge the best parameters into this YAML file's model section (created if "
            "absent); <home>/keiba.yaml is read by every command.",
        ),
    ] = None,
    tracking_uri: TrackingOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search LightGBM's learning rate, leaves, minimum leaf size, feature fraction and L2
    penalty by the pooled out-of-time log-loss of the model's probabilities over a walk-forward
    by year (Optuna, seeded, one trial at a time); every trial is a nested MLflow run."""
    test_years = parse_years(years)
    config = config_of(ctx, dataset=dataset)
    with progress_bar(not as_json) as progress:
        result = tune_model(
            config,
            test_years,
            trials=trials,
            seed=seed,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    if write is not None:
        write_model_params(write, result["best"]["params"])
        result["written_to"] = str(write)
    if as_json:
        print_json(result)
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    table = Table(title=f"Trials, years {result['years'][0]}–{result['years'][-1]} (pooled)")
    for column in ("trial", *SEARCH_SPACE, "model log-loss", "combined log-loss"):
        table.add_column(column, justify="right")
    for t in result["trials"]:
        p, s = t["params"], t["scores"]
        table.add_row(
            str(t["trial"]),
            *(f"{p[k]:.4g}" for k in SEARCH_SPACE),
            f"{s['model_log_loss']:.4f}",
            f"{s['combined_log_loss']:.4f}",
        )
    out.print(table)
    best = result["best"]
    out.print(f"Best: trial {best['trial']}, {best['params']}", highlight=False)
    if "written_to" in result:
        out.print(f"Written to the model section of {result['written_to']}", highlight=False)
    mlflow = result["mlflow"]
    out.print(f"MLflow run: {mlflow['run_id']} in {mlflow['tracking_uri']}", highlight=False)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["model"].command("tune")(tune)

"""`keiba model walk-forward`: the model against the market, year by year, out of time.

Parsing and printing only; the work is in keiba.app.walk_forward and keiba.evaluator.yearly.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.walk_forward import run_walk_forward_years
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    TrackingOption,
    config_of,
    out,
    print_json,
    progress_bar,
)
from keiba.feature_engineering import FEATURE_GROUPS
from keiba.model_training.combination import STAGES
from keiba.model_training.model import OFFSETS

__all__ = ["parse_groups", "parse_years", "register"]


def parse_years(text: str) -> list[int]:
    """`2019-2022` or `2019,2021`: the test years, each a four-digit year."""
    years: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            start, end = int(first), int(last or first)
        except ValueError:
            raise typer.BadParameter(
                f"{part.strip()!r} is not a year or a range YYYY-YYYY", param_hint="--years"
            ) from None
        if not (1900 <= start <= end <= 2999):
            raise typer.BadParameter(
                f"{part.strip()!r}: years run from 1900 to 2999, in order", param_hint="--years"
            )
        years.extend(range(start, end + 1))
    return sorted(set(years))


def parse_groups(names: list[str]) -> list[str]:
    """Feature group names, in order, once each; `all` stands for every group."""
    groups: list[str] = []
    for name in names:
        if name not in FEATURE_GROUPS and name != "all":
            raise typer.BadParameter(
                f"{name!r} is not a feature group; the groups are {', '.join(FEATURE_GROUPS)} "
                "(or all)",
                param_hint="--without",
            )
        groups.extend(FEATURE_GROUPS if name == "all" else [name])
    return list(dict.fromkeys(groups))


def walk_forward(
    ctx: typer.Context,
    years: Annotated[
        str,
        typer.Option(
            "--years",
            metavar="YYYY[-YYYY][,…]",
            help="The test years, e.g. 2019-2022 or 2019,2021.",
        ),
    ],
    without: Annotated[
        list[str] | None,
        typer.Option(
            "--without",
            metavar="GROUP",
            help="Also run without this feature group and compare (repeatable; 'all' for every "
            f"group): {', '.join(FEATURE_GROUPS)}.",
        ),
    ] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of races.", min=10)] = 1000,
    stage: Annotated[
        str,
        typer.Option(
            "--stage",
            metavar="NAME",
            help="The market stage: plain (c ∝ f^α q^β), field (α, β linear in the log of the "
            "field size) or band (α, β linear in the log of the market probability); a stage "
            "other than plain is also compared with plain, race by race.",
        ),
    ] = "plain",
    offset: Annotated[
        str | None,
        typer.Option(
            "--offset",
            metavar="NAME",
            help="Compare the model boosted from an offset with the plain one, race by race: "
            "market (LightGBM starts from each runner's log market probability, so the trees "
            "learn what the market leaves over; the setting model.offset trains every model so).",
        ),
    ] = None,
    market_feature: Annotated[
        bool,
        typer.Option(
            "--market-feature",
            help="Compare the model whose trees also read the market (each runner's log market "
            "probability and its gap to the race's favourite, as feature columns; with --offset "
            "market boosted from it too) with the plain one, race by race (a research variant: "
            "no setting trains the product's model so).",
        ),
    ] = False,
    tracking_uri: TrackingOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score each test year with a model trained on the years before it (the market stage fitted
    on the year before); ΔR² against the market per year and pooled, with bootstrap intervals.
    With --without, the pooled ΔR² of the full feature set against the set without each group.
    With --offset market, the model boosted from the market against the plain model; with
    --market-feature, the model reading the market (and boosted from it with --offset market)."""
    if stage not in STAGES:
        raise typer.BadParameter(
            f"{stage!r} is not a market stage; the stages are {', '.join(STAGES)}",
            param_hint="--stage",
        )
    if offset is not None and offset not in OFFSETS:
        raise typer.BadParameter(
            f"{offset!r} is not an offset; the offsets are {', '.join(OFFSETS)}",
            param_hint="--offset",
        )
    if (offset is not None or market_feature) and stage != "plain":
        raise typer.BadParameter(
            "compare a richer market stage and a model using the market one at a time",
            param_hint="--offset/--market-feature",
        )
    test_years = parse_years(years)
    groups = parse_groups(without or [])
    config = config_of(ctx, dataset=dataset)
    with progress_bar(not as_json) as progress:
        result = run_walk_forward_years(
            config,
            test_years,
            without=groups,
            tracking_uri=tracking_uri,
            resamples=resamples,
            stage=stage,
            offset=offset,
            market_feature=market_feature,
            progress=progress,
        )
    if as_json:
        print_json(result)
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    table = Table(title=f"Walk-forward by year, dataset {result['dataset']['name']} (pseudo-R²)")
    for column in ("year", "races", "market", "combined", "ΔR²", "95% interval"):
        table.add_column(column, justify="left" if column == "year" else "right")
    for row in result["rows"]:
        table.add_row(
            str(row["year"]),
            f"{row['races']:,}",
            f"{row['market_r2']:.4f}",
            f"{row['combined_r2']:.4f}",
            f"{row['delta_r2']:+.4f}",
            f"{row['delta_r2_low']:+.4f} to {row['delta_r2_high']:+.4f}",
        )
    out.print(table)
    pooled = result["rows"][-1]
    verdict = (
        "above zero: the model adds to the market"
        if pooled["delta_r2_low"] > 0
        else "not above zero: no evidence the model adds to the market"
    )
    out.print(f"Pooled 95% interval {verdict}.", highlight=False)
    if result["stage"] != "plain":
        _print_versus_plain(result["stage"], result["rows"])
    if result.get("offset") or result.get("market_feature"):
        _print_versus_plain_model(_variant(result), result["rows"])
    if result["ablations"]:
        _print_ablations(result["ablations"])
    mlflow = result["mlflow"]
    out.print(f"MLflow run: {mlflow['run_id']} in {mlflow['tracking_uri']}", highlight=False)


def _print_versus_plain(stage: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"The {stage} stage against the plain one (ΔR² = {stage} − plain, paired)")
    for column in ("year", "plain", stage, "ΔR²", "95% interval"):
        table.add_column(column, justify="left" if column == "year" else "right")
    for row in rows:
        table.add_row(
            str(row["year"]),
            f"{row['plain_r2']:.4f}",
            f"{row['combined_r2']:.4f}",
            f"{row['versus_plain']:+.4f}",
            f"{row['versus_plain_low']:+.4f} to {row['versus_plain_high']:+.4f}",
        )
    out.print(table)
    pooled = rows[-1]
    verdict = "above zero" if pooled["versus_plain_low"] > 0 else "not above zero"
    out.print(
        f"Pooled 95% interval of the {stage} stage against the plain one {verdict}.",
        highlight=False,
    )


def _variant(result: dict[str, Any]) -> str:
    boosted = f"boosted from the {result['offset']}" if result.get("offset") else ""
    reading = "reading the market" if result.get("market_feature") else ""
    return " and ".join(part for part in (boosted, reading) if part)


def _print_versus_plain_model(variant: str, rows: list[dict[str, Any]]) -> None:
    table = Table(
        title=f"The model {variant} against the plain model "
        "(combined; ΔR² = variant − plain, paired)"
    )
    for column in (
        "year",
        "plain model",
        "variant model",
        "plain",
        "variant",
        "ΔR²",
        "95% interval",
    ):
        table.add_column(column, justify="left" if column == "year" else "right")
    for row in rows:
        table.add_row(
            str(row["year"]),
            f"{row['plain_model_r2']:.4f}",
            f"{row['model_r2']:.4f}",
            f"{row['plain_combined_r2']:.4f}",
            f"{row['combined_r2']:.4f}",
            f"{row['versus_plain_model']:+.4f}",
            f"{row['versus_plain_model_low']:+.4f} to {row['versus_plain_model_high']:+.4f}",
        )
    out.print(table)
    pooled = rows[-1]
    verdict = "above zero" if pooled["versus_plain_model_low"] > 0 else "not above zero"
    out.print(
        f"Pooled 95% interval of the model {variant} against the plain model {verdict}.",
        highlight=False,
    )


def _print_ablations(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Without each feature group (pooled; ΔR² = full set − without)")
    for column in ("without", "features", "model", "combined", "ΔR²", "95% interval"):
        table.add_column(column, justify="left" if column == "without" else "right")
    for row in rows:
        table.add_row(
            row["without"],
            str(row["features"]),
            f"{row['model_r2']:.4f}",
            f"{row['combined_r2']:.4f}",
            f"{row['delta_r2']:+.4f}",
            f"{row['delta_r2_low']:+.4f} to {row['delta_r2_high']:+.4f}",
        )
    out.print(table)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["model"].command("walk-forward")(walk_forward)

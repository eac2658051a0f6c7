"""`keiba bet decide` and `keiba model fit-exotics`: Themis from the command line; parsing and
printing only.

`decide` reads one race — from the warehouse by race id, or from a JSON file (the payload
`keiba.app.decide` describes) — and prints what Themis would buy. `fit-exotics` fits the
exotic discounts Themis prices with (keiba.app.models.fit_exotics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.decide import decide_given
from keiba.app.models import fit_exotics
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    config_of,
    note,
    out,
    print_json,
)
from keiba.common.bet_types import BetType

__all__ = ["register"]


def _print_decision(result: dict[str, Any], show: int) -> None:
    table = Table(
        title=f"Themis: {len(result['bets'])} bet(s), {result['total_stake_yen']:,} yen "
        f"of a {result['bankroll_yen']:,} yen bankroll"
    )
    for column in ("bet", "combination", "stake (yen)", "p", "odds", "EV", "rule"):
        table.add_column(
            column, justify="right" if column in ("stake (yen)", "p", "odds", "EV") else "left"
        )
    for b in result["bets"]:
        table.add_row(
            BetType(b["bet_type"]).japanese,
            b["combination"],
            f"{b['stake_yen']:,}",
            f"{b['probability']:.4f}",
            f"{b['odds']:.1f}",
            f"{b['expected_return']:.3f}",
            b["rule"],
        )
    out.print(table)
    counts: dict[str, int] = {}
    for r in result["rejections"]:
        counts[r["code"]] = counts.get(r["code"], 0) + 1
    if counts:
        out.print("rejected: " + ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items())))
    interesting = [r for r in result["rejections"] if r["code"] != "ev_below_threshold"]
    for r in interesting[:show]:
        out.print(f"  {r['bet_type']} {r['combination']}: {r['reason']}", highlight=False)
    for text in result["notes"]:
        note(text)


def fit_exotics_command(
    ctx: typer.Context, dataset: DatasetOption = None, as_json: JsonOption = False
) -> None:
    """Fit discounted Harville's γ and δ on the warehouse's finishing orders; record them."""
    config = config_of(ctx, dataset=dataset)
    result = fit_exotics(config)
    if as_json:
        print_json(result)
        return
    out.print(
        f"γ = {result['gamma']:.3f} ± {result['gamma_se']:.3f}, "
        f"δ = {result['delta']:.3f} ± {result['delta_se']:.3f} on {result['races']:,} races "
        f"({result['first_race_date']} … {result['last_race_date']}; "
        f"{result['dead_heat_races']} with a dead heat in the first three)",
        highlight=False,
    )
    out.print(
        f"log-likelihood {result['log_likelihood']:,.1f} against Harville's "
        f"{result['harville_log_likelihood']:,.1f}; left out: {result['skipped']}",
        highlight=False,
    )
    for name, values in result["published"].items():
        out.print(
            f"published, {name}: γ = {values['gamma']}, δ = {values['delta']}", highlight=False
        )
    out.print(f"recorded at {result['stored_at']}", highlight=False)


def register(groups: dict[str, typer.Typer]) -> None:
    """Add `bet decide` and `model fit-exotics` to the `keiba` command."""
    groups["model"].command("fit-exotics")(fit_exotics_command)

    @groups["bet"].command()
    def decide(
        ctx: typer.Context,
        race_id: Annotated[
            str | None, typer.Argument(help="16-digit race key in the warehouse.")
        ] = None,
        input_file: Annotated[
            Path | None, typer.Option("--input", help="JSON file with the race instead.")
        ] = None,
        probabilities: Annotated[
            Path | None, typer.Option(help="JSON {horse: win probability} for a warehouse race.")
        ] = None,
        bankroll: Annotated[
            int | None, typer.Option(help="Balance in yen (required unless in the file).")
        ] = None,
        staked_today: Annotated[int, typer.Option(help="Yen already staked today.")] = 0,
        tickets_today: Annotated[int, typer.Option(help="Tickets already bought today.")] = 0,
        show_rejections: Annotated[
            int, typer.Option(help="Rejections to list (besides low EV).")
        ] = 20,
        dataset: DatasetOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Decide what to buy for one race, and print why everything else was not bought."""
        config = config_of(ctx, dataset=dataset)
        result = decide_given(
            config, race_id, input_file, probabilities, bankroll, staked_today, tickets_today
        )
        if as_json:
            print_json(result)
        else:
            _print_decision(result, show_rejections)

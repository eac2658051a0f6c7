"""`keiba bet decide` and `keiba model fit-exotics`: Themis from the command line; wiring only.

`decide` reads one race — from the warehouse by race id, or from a JSON file (the payload
`keiba.app.decide` describes) — and prints what Themis would buy. `fit-exotics` runs
`keiba.model_training.exotic_fit` on the warehouse.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    config_of,
    note,
    out,
    print_json,
)
from keiba.common.errors import KeibaError

__all__ = ["register"]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise KeibaError(f"cannot read {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise KeibaError(f"{path} is not valid JSON: {e}") from e


def _print_decision(result: dict[str, Any], show: int) -> None:
    from keiba.common.bet_types import BetType

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


def register(groups: dict[str, typer.Typer]) -> None:
    """Add `bet decide` and `model fit-exotics` to the `keiba` command."""

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

        def action() -> dict[str, Any]:
            from keiba.app.decide import decide_race, from_payload, from_warehouse, horse_keyed
            from keiba.themis import Bankroll

            if (race_id is None) == (input_file is None):
                raise KeibaError("give a race id or --input FILE (one of them)")
            if input_file is not None:
                race = from_payload(_read_json(input_file), str(input_file))
            else:
                win = None
                if probabilities is not None:
                    win = horse_keyed(_read_json(probabilities), "probabilities")
                race = from_warehouse(config, str(race_id), win)
            if bankroll is not None:
                race = dataclasses.replace(
                    race, bankroll=Bankroll(bankroll, staked_today, tickets_today)
                )
            if race.bankroll is None:
                raise KeibaError("give the bankroll: --bankroll YEN")
            return decide_race(config, race)

        result = action()
        if as_json:
            print_json(result)
        else:
            _print_decision(result, show_rejections)

    @groups["model"].command("fit-exotics")
    def fit_exotics(
        ctx: typer.Context, dataset: DatasetOption = None, as_json: JsonOption = False
    ) -> None:
        """Fit discounted Harville's γ and δ on the warehouse's finishing orders; record them."""
        config = config_of(ctx, dataset=dataset)

        def action() -> dict[str, Any]:
            from keiba.common.storage import FsspecObjectStore
            from keiba.common.storage.datasets import open_dataset
            from keiba.model_training.exotic_fit import fit_and_record

            with open_dataset(config, read_only=True) as warehouse:
                return fit_and_record(warehouse, FsspecObjectStore(config.object_store_url))

        result = action()
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

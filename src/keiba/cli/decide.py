"""`keiba bet decide` and `keiba model fit-exotics`: Themis from the command line.

`decide` reads one race — from the warehouse by race id, or from a JSON file — and prints what
Themis would buy. The JSON file holds `probabilities` ({horse: p}), `odds` ({bet type:
{combination: odds or {"odds", "odds_high", "pool_yen"}}}), optionally `frames` ({horse:
frame}) and `bankroll` (yen, or {"balance_yen", "staked_today_yen", "tickets_today",
"day_start_yen"}). From the warehouse the odds are the latest snapshot of the `odds` table (the
final win odds of `runners` when the race has none) and the probabilities come from
`--probabilities FILE`, else the market's own (1/odds normalised: with them Themis should buy
nothing, since the takeout makes every expected return lower than 1).
"""

from __future__ import annotations

import json
import math
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


def _int_keys(data: Any, what: str) -> dict[int, Any]:
    if not isinstance(data, dict):
        raise KeibaError(f"{what} must be an object keyed by horse number")
    try:
        return {int(k): v for k, v in data.items()}
    except ValueError as e:
        raise KeibaError(f"{what}: keys must be horse numbers ({e})") from e


def _quotes(odds: Any) -> dict[str, dict[str, Any]]:
    from keiba.themis import Quote

    if not isinstance(odds, dict):
        raise KeibaError("odds must be an object keyed by bet type")
    result: dict[str, dict[str, Any]] = {}
    for bet, quotes in odds.items():
        if not isinstance(quotes, dict):
            raise KeibaError(f"odds.{bet} must be an object keyed by combination")
        result[bet] = {
            c: Quote(v["odds"], v.get("odds_high"), v.get("pool_yen")) if isinstance(v, dict) else v
            for c, v in quotes.items()
        }
    return result


def _from_file(path: Path) -> dict[str, Any]:
    from keiba.themis import Bankroll

    data = _read_json(path)
    if not isinstance(data, dict) or "probabilities" not in data or "odds" not in data:
        raise KeibaError(f"{path} must hold an object with 'probabilities' and 'odds'")
    bankroll = data.get("bankroll")
    if isinstance(bankroll, dict):
        bankroll = Bankroll(**bankroll)
    return {
        "probabilities": _int_keys(data["probabilities"], "probabilities"),
        "odds": _quotes(data["odds"]),
        "frames": _int_keys(data["frames"], "frames") if "frames" in data else None,
        "bankroll": bankroll,
        "notes": [],
    }


def _from_warehouse(config: Any, race_id: str, probabilities: Path | None) -> dict[str, Any]:
    from keiba.common.storage.datasets import open_dataset
    from keiba.themis import Quote

    with open_dataset(config, read_only=True) as warehouse:
        runners = warehouse.query(
            "SELECT horse_no, frame_no, win_odds_final FROM runners "
            "WHERE race_id = ? AND status NOT IN ('scratched', 'excluded') ORDER BY horse_no",
            [race_id],
        )
        odds_rows = warehouse.query(
            "SELECT bet_type, combination, odds, odds_high, pool_yen FROM odds WHERE race_id = ? "
            "QUALIFY row_number() OVER "
            "(PARTITION BY bet_type, combination ORDER BY as_of DESC) = 1",
            [race_id],
        )
    if runners.height == 0:
        raise KeibaError(f"no starters for race {race_id} in {config.duckdb_path}")
    notes: list[str] = []
    odds: dict[str, dict[str, Any]] = {}
    for bet, combination, o, high, pool in odds_rows.iter_rows():
        odds.setdefault(bet, {})[combination] = Quote(o, high, pool)
    if not odds:
        odds = {
            "win": {
                str(h): o
                for h, o in zip(runners["horse_no"], runners["win_odds_final"], strict=True)
                if o
            }
        }
        notes.append("no odds snapshots for this race: using the final win odds of `runners`")
    if probabilities is not None:
        win = _int_keys(_read_json(probabilities), "probabilities")
    else:
        inverse = {
            h: 1.0 / o
            for h, o in zip(runners["horse_no"], runners["win_odds_final"], strict=True)
            if o
        }
        total = math.fsum(inverse.values())
        win = {h: v / total for h, v in inverse.items()}
        notes.append("probabilities are the market's own (1/odds normalised): expect no bets")
    frames = dict(zip(runners["horse_no"], runners["frame_no"], strict=True))
    return {"probabilities": win, "odds": odds, "frames": frames, "bankroll": None, "notes": notes}


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
            from keiba.themis import Bankroll
            from keiba.themis import decide as themis_decide

            if (race_id is None) == (input_file is None):
                raise KeibaError("give a race id or --input FILE (one of them)")
            race = (
                _from_file(input_file)
                if input_file
                else _from_warehouse(config, str(race_id), probabilities)
            )
            account = race["bankroll"]
            if bankroll is not None:
                account = Bankroll(bankroll, staked_today, tickets_today)
            if account is None:
                raise KeibaError("give the bankroll: --bankroll YEN")
            decision = themis_decide(
                race["probabilities"], race["odds"], account, config.themis, frames=race["frames"]
            )
            result = decision.to_dict()
            result["notes"] = race["notes"] + result["notes"]
            return result

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
            import dataclasses

            from keiba.common.storage import FsspecObjectStore
            from keiba.common.storage.datasets import open_dataset
            from keiba.themis.fit import fit_exotics as fit
            from keiba.themis.fit import races_from_warehouse, record_fit

            with open_dataset(config, read_only=True) as warehouse:
                races, info = races_from_warehouse(warehouse)
            result = dataclasses.replace(fit(races), skipped=info["skipped"])
            period = {k: v for k, v in info.items() if k != "skipped"}
            key = record_fit(FsspecObjectStore(config.object_store_url), result, period)
            return {**result.to_dict(), **period, "stored_at": key}

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

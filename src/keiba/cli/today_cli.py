"""`keiba bet today`: the day's races with the model's, the market's and the combined
probabilities, the odds, the expected value and Themis's stakes; wiring and printing only.

The logic is `keiba.app.today`; nothing is bought and the ledger is only read. Every line
printed fits 80 columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from keiba.app.today import today_bets_at
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    RaceDateOption,
    config_of,
    jst,
    note,
    out,
    print_json,
)
from keiba.common.clock import JST

__all__ = ["parse_at", "register"]

WIDTH = 80


def parse_at(value: str) -> dt.time | dt.datetime:
    """`--at`: `HH:MM` (a time of the race day), or a date and time, JST unless the text
    carries its own offset."""
    text = value.strip()
    try:
        if len(text) <= 5:
            return dt.time.fromisoformat(text.zfill(5))
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a time HH:MM or YYYY-MM-DDTHH:MM (JST)", param_hint="--at"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=JST)


def _clock(instant: Any) -> str:
    return jst(instant)[11:16]


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min old"
    return f"{seconds / 3600:.1f} h old"


def _header(race: dict[str, Any]) -> None:
    passed = ", passed" if race["post_passed"] else ""
    out.print(
        f"[bold]{race['race_id']}  {race['venue']} {race['race_no']}R  "
        f"post {_clock(race['post_time'])} JST{passed}[/]",
        highlight=False,
    )
    name = race["race_name"]
    for extra in (race["race_class"], race["grade"]):
        if extra and extra not in name:
            name = f"{name} {extra}".strip()
    if race["odds_as_of"] is not None:
        stale = ", stale" if race["odds_stale"] else ""
        odds = f"odds {_clock(race['odds_as_of'])} JST ({_age(race['odds_age_s'])}{stale})"
        name = f"{name} · {odds}" if name else odds
    if name:
        out.print(name, highlight=False, markup=False, soft_wrap=False)


def _table() -> Table:
    """Columns two spaces apart, a rule under the header, no frame (80 columns for 18)."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0, 0, 1))


def _starters(race: dict[str, Any]) -> Table:
    table = _table()
    for column, justify in (
        ("no", "right"),
        ("horse", "left"),
        ("model", "right"),
        ("market", "right"),
        ("comb.", "right"),
        ("odds", "right"),
        ("EV", "right"),
        ("Themis", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for s in race["starters"]:
        bought = s["stake_yen"] > 0
        table.add_row(
            str(s["horse_no"]),
            s["horse_name"],
            f"{s['p_model']:.3f}",
            f"{s['p_market']:.3f}",
            f"{s['p_combined']:.3f}",
            f"{s['odds']:.1f}",
            f"{s['ev']:.2f}",
            f"[green]{s['stake_yen']:,} yen[/]" if bought else str(s["reason"] or ""),
            style="bold" if bought else None,
        )
    return table


def _tickets(race: dict[str, Any]) -> Table:
    table = _table()
    for column in ("pool", "tickets", "stake", "p", "odds", "EV", "rule"):
        justify = "left" if column in ("pool", "tickets", "rule") else "right"
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for t in race["tickets"]:
        table.add_row(
            t["bet_type"],
            t["combination"],
            f"{t['stake_yen']:,} yen",
            f"{t['probability']:.3f}",
            f"{t['odds']:.1f}",
            f"{t['expected_return']:.2f}",
            t["rule"],
        )
    return table


def _print_race(race: dict[str, Any]) -> None:
    _header(race)
    if race["reason"] is not None:
        out.print(f"[yellow]cannot be decided:[/] {race['reason']}", highlight=False)
    else:
        out.print(_starters(race))
        if race["tickets"]:
            out.print(_tickets(race))
        rejected = ", ".join(f"{code} {n}" for code, n in race["rejected"].items())
        if rejected:
            out.print(f"other pools rejected: {rejected}", highlight=False, soft_wrap=False)
        staked = race["staked_yen"]
        out.print(f"Themis: {staked:,} yen" if staked else "Themis: no bet", highlight=False)
    out.print()


def print_today(result: dict[str, Any]) -> None:
    """Every race of the result, then what they add up to (80 columns)."""
    bankroll = result["bankroll"]
    out.print(
        f"[bold]Races of {result['race_date']} as known at {jst(result['at'])}[/]",
        highlight=False,
    )
    release = f" · release {result['release_id']}" if result.get("release_id") else ""
    out.print(
        f"dataset {result['dataset']} · model {result['model_version']}{release}", highlight=False
    )
    out.print(
        f"account {result['account']}: {bankroll['balance_yen']:,} yen available, "
        f"{bankroll['staked_today_yen']:,} yen staked today; nothing is bought",
        highlight=False,
        soft_wrap=False,
    )
    out.print()
    for race in result["races"]:
        _print_race(race)
    races = result["races"]
    undecided = sum(1 for r in races if r["reason"] is not None)
    staked = sum(r["staked_yen"] for r in races)
    out.print(
        f"{len(races)} race(s), {undecided} not decided; Themis would stake {staked:,} yen",
        highlight=False,
    )
    for text in result["notes"]:
        note(text)


def register(groups: dict[str, typer.Typer]) -> None:
    """Add `bet today` to the `keiba` command."""

    @groups["bet"].command()
    def today(
        ctx: typer.Context,
        date: RaceDateOption = None,
        at: Annotated[
            str | None,
            typer.Option(
                "--at",
                metavar="TIME",
                help="As known at HH:MM of the race day, or YYYY-MM-DDTHH:MM (JST; default: now).",
            ),
        ] = None,
        race: Annotated[
            str | None, typer.Option("--race", metavar="RACE_ID", help="Only this race.")
        ] = None,
        account: Annotated[
            str, typer.Option("--account", help="Ledger account whose bankroll Themis sees.")
        ] = "main",
        dataset: DatasetOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """The day's races: probabilities, odds, expected value and Themis's stakes (no buying).

        --date defaults to the day of --at, or of --race, else today.
        """
        config = config_of(ctx, dataset=dataset)
        instant = parse_at(at) if at is not None else None
        result = today_bets_at(config, instant, race_date=date, race_id=race, account=account)
        if as_json:
            print_json(result.to_dict())
            return
        print_today(result.to_dict())

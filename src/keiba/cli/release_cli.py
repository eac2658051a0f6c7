"""`keiba release list|show|promote|rollback|shadow|canary|compare`: the releases of the selected
dataset; parsing and printing only (keiba.app.releases, keiba.app.release_report).

Releases live in the audit chain of the ledger at `storage.ledger_url`. `promote` measures the
candidate's gates (a walk-forward backtest, its Monte Carlo, the held-out ΔR², the policy's
step) and refuses with one line per failed gate, or during the race-day freeze, unless
`--force` (the reason is recorded with what was forced). `shadow` runs a candidate beside the
release in force on race days: it decides every race and buys nothing. `canary` runs one on a
share of the races, buying its decisions under its own stake caps; `compare` puts a day's
shadow and canary beside the release in force, race by race.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.release_report import compare
from keiba.app.releases import canary, list_releases, promote, rollback, shadow, show_release
from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    RaceDateOption,
    config_of,
    jst,
    out,
    parse_date,
    print_json,
)
from keiba.cli.console import err
from keiba.release import CanarySettings, PromotionRefused

ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who does it (default: the user's login name).")
]


def list_(ctx: typer.Context, dataset: DatasetOption = None, as_json: JsonOption = False) -> None:
    """The dataset's promotions and rollbacks, oldest first, and the release in force."""
    result = list_releases(config_of(ctx, dataset=dataset))
    if as_json:
        print_json(result)
        return
    title = f"Releases of {result['dataset']} (in force: {result['in_force']}"
    running = result["canary"]["release_id"] if result["canary"] else None
    table = Table(title=f"{title}, shadow: {result['shadow']}, canary: {running})")
    for name in ("#", "time", "action", "release", "model", "by", "reason", "forced"):
        table.add_column(name)
    for e in result["events"]:
        table.add_row(
            str(e["seq"]),
            jst(e["at"]),
            e["action"],
            e["release_id"],
            e["model_version"],
            e["by"],
            e["reason"],
            str(len(e["forced"])) if e["forced"] else "",
        )
    out.print(table)


def show(
    ctx: typer.Context,
    release_id: Annotated[str | None, typer.Argument(help="Default: the release in force.")] = None,
    dataset: DatasetOption = None,
) -> None:
    """One release: its model version, its Themis policy and its gates' figures (JSON)."""
    print_json(show_release(config_of(ctx, dataset=dataset), release_id))


def _print_event(event: dict[str, Any]) -> None:
    forced = f" (forced past: {', '.join(event['forced'])})" if event["forced"] else ""
    out.print(
        f"{event['action']}: {event['release_id']} (model {event['model_version']}) in force, "
        f"audit record {event['seq']}{forced}",
        highlight=False,
    )


def promote_(
    ctx: typer.Context,
    reason: ReasonOption,
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: the latest).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote past failed gates and the freeze.")
    ] = False,
    by: ByOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Promote a model version with the configured Themis policy, through its gates."""
    try:
        event = promote(
            config_of(ctx, dataset=dataset),
            model=model,
            reason=reason,
            by=by,
            force=force,
        )
    except PromotionRefused as e:
        raise _refused(e) from e
    if as_json:
        print_json(event)
    else:
        _print_event(event)


def rollback_(
    ctx: typer.Context,
    reason: ReasonOption,
    by: ByOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore the release in force before the current one."""
    event = rollback(config_of(ctx, dataset=dataset), reason=reason, by=by)
    if as_json:
        print_json(event)
    else:
        _print_event(event)


def shadow_(
    ctx: typer.Context,
    reason: ReasonOption,
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: the latest).")
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the shadow.")] = False,
    by: ByOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a model version with the configured policy in shadow on race days (buys nothing)."""
    result = shadow(config_of(ctx, dataset=dataset), model=model, reason=reason, stop=stop, by=by)
    if as_json:
        print_json(result)
    elif stop:
        out.print(f"shadow {result['stopped']} stopped", highlight=False)
    else:
        candidate = result["shadow"]
        out.print(
            f"{candidate['release_id']} (model {candidate['model_version']}) runs in shadow on "
            f"{result['dataset']}'s race days from the next one",
            highlight=False,
        )


def _refused(e: PromotionRefused) -> typer.Exit:
    for line in e.lines:
        err.print(f"[bold red]refused:[/] {line}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def canary_(
    ctx: typer.Context,
    reason: ReasonOption,
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: the latest).")
    ] = None,
    share: Annotated[
        float | None,
        typer.Option("--share", help="The share of races the canary runs, in (0, 1]."),
    ] = None,
    race_cap: Annotated[
        int | None,
        typer.Option("--race-cap", metavar="YEN", help="The canary's stake cap per race."),
    ] = None,
    day_cap: Annotated[
        int | None,
        typer.Option("--day-cap", metavar="YEN", help="The canary's stake cap per day."),
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="End the canary.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Start the canary in the race-day freeze.")
    ] = False,
    by: ByOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a model version with the configured policy as a canary: it decides and buys a share
    of the races under its own stake caps; the release in force decides the others."""
    settings = None
    if not stop:
        if share is None or race_cap is None or day_cap is None:
            raise typer.BadParameter("a canary needs --share, --race-cap and --day-cap")
        settings = CanarySettings(share, race_cap, day_cap)
    try:
        event = canary(
            config_of(ctx, dataset=dataset),
            model=model,
            reason=reason,
            settings=settings,
            stop=stop,
            force=force,
            by=by,
        )
    except PromotionRefused as e:
        raise _refused(e) from e
    if as_json:
        print_json(event)
    elif stop:
        out.print(f"canary {event['release_id']} ended, audit record {event['seq']}")
    else:
        c, forced = event["canary"], " (forced past the freeze)" if event["forced"] else ""
        out.print(
            f"{event['release_id']} (model {event['model_version']}) runs as a canary on "
            f"{c['share']:.0%} of the races, at most {c['race_cap_yen']:,} yen a race and "
            f"{c['day_cap_yen']:,} yen a day; audit record {event['seq']}{forced}",
            highlight=False,
        )


def _money(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _compare_table(name: str, part: dict[str, Any]) -> Table:
    title = f"{name} {part['release_id']} vs in force {part['in_force']} (JST)"
    table = Table(title=title)
    for column in ("race", "post", "force ¥", "return", "cand. ¥", "return"):
        justify = "left" if column in ("race", "post") else "right"
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in part["races"]:
        mine, theirs = row["candidate"], row["in_force"]
        table.add_row(
            row["race_id"],
            (row["post_time"] or "")[11:16],
            _money(theirs["staked_yen"]),
            _money(theirs["returned_yen"]),
            _money(mine["staked_yen"]),
            _money(mine["returned_yen"]),
        )
    return table


def compare_(
    ctx: typer.Context,
    date: RaceDateOption = None,
    journal: Annotated[
        Path | None,
        typer.Option("--journal", help="The day's journal (default: the home directory's)."),
    ] = None,
    until: Annotated[
        dt.date | None,
        typer.Option(
            "--until",
            metavar="YYYY-MM-DD",
            parser=parse_date,
            help="Sum every day from --date to this one run in the home directory.",
        ),
    ] = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """A day's shadow and canary against the release in force on the same races: tickets,
    stake, and once settled what each returned at the official payouts (default: today);
    with --until, the sum of a range of days."""
    report = compare(config_of(ctx, dataset=dataset), date, journal, until=until)
    if as_json:
        print_json(report)
        return
    if report["shadow"] is None and report["canary"] is None:
        when = report["date"]
        if report["until"] != when:
            when = f"{when} … {report['until']}"
        out.print(f"no shadow and no canary ran on {when}", highlight=False)
        return
    for name in ("shadow", "canary"):
        part = report[name]
        if part is None:
            continue
        out.print(_compare_table(name, part))
        for side, label in (("in_force", "in force"), ("candidate", name)):
            t = part["totals"][side]
            out.print(
                f"{label}: {t['races']} races, {t['tickets']} tickets, {t['staked_yen']:,} yen; "
                f"settled {t['settled_races']}: profit {t['profit_yen']:+,} yen",
                highlight=False,
            )


def register(groups: dict[str, typer.Typer]) -> None:
    groups["release"].command("list")(list_)
    groups["release"].command("show")(show)
    groups["release"].command("promote")(promote_)
    groups["release"].command("rollback")(rollback_)
    groups["release"].command("shadow")(shadow_)
    groups["release"].command("canary")(canary_)
    groups["release"].command("compare")(compare_)

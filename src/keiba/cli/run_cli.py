"""`keiba run`: run a race day and print what became of every race.

Live, on the wall clock, against netkeiba (the collector's base URLs), buying on paper into the
configured ledger account; `--twin`: a simulated world's day, served by a local twin of the
site on loopback and played in simulated time, with its own dataset, model, ledger and journal;
or `--replay`: a day that was run before, replayed in simulated time from the pages it
recorded. Each can be stopped and run again: it resumes from its journal. `--enqueue` runs no
race: it records the live day's plan and puts two named tasks per race on the Cloud Tasks
queues, which call `keiba serve --decide` at the race's decision time and, until its result is
official, after the race to settle it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from keiba.app.days import live_day
from keiba.app.decide_tasks import DayTasks, enqueue_live_day
from keiba.app.race_day import DayRun
from keiba.app.recorded_day import replay_day
from keiba.app.twin_day import twin_day
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

__all__ = ["print_day", "print_tasks", "run"]

_STYLES = {"bought": "green", "passed": "", "skipped": "yellow", "failed": "red"}


def print_day(day: DayRun) -> None:
    """The outcome table (80 columns) and what it adds up to."""
    rows = day.rows()
    table = Table(title=f"Race day {day.race_date} (JST)")
    for column, justify in (
        ("race", "left"),
        ("post", "left"),
        ("outcome", "left"),
        ("staked", "right"),
        ("reason", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        post = dt.datetime.fromisoformat(row["post_time"])
        style = _STYLES.get(row["outcome"], "")
        table.add_row(
            row["race_id"],
            jst(post)[11:16],
            f"[{style}]{row['outcome']}[/]" if style else row["outcome"],
            f"{row['staked_yen']:,}" if row["staked_yen"] else "",
            row["reason"],
        )
    out.print(table)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    summary = ", ".join(f"{counts[k]} {k}" for k in _STYLES if k in counts)
    staked = sum(r["staked_yen"] for r in rows)
    out.print(f"{len(rows)} races: {summary}", highlight=False)
    out.print(
        f"staked {staked:,} yen; balance {day.balance_yen:,} yen (account {day.account})",
        highlight=False,
    )
    if day.release_id:
        out.print(f"release {day.release_id} (model {day.model_version})", highlight=False)
    if day.shadow:
        shadowed = sum(int(r.get("shadow_staked_yen") or 0) for r in rows)
        out.print(f"shadow candidate would have staked {shadowed:,} yen", highlight=False)
    if day.canary:
        by_canary = sum(r["staked_yen"] for r in rows if r.get("ran") == "canary")
        out.print(
            f"canary ran {len(day.canary)} races, staked {by_canary:,} yen "
            "(keiba release compare for the release in force on them)",
            highlight=False,
        )
    for alert in day.alerts:
        note(f"{alert.severity.value}: {alert.message}")
    out.print(f"Journal: {day.journal}", highlight=False)


def print_tasks(day: DayTasks, as_json: bool) -> None:
    """Each race's tasks, when they run, and whether they were queued now or already."""
    if as_json:
        print_json(
            {
                "race_date": day.race_date.isoformat(),
                "queue": day.queue,
                "settle_queue": day.settle_queue,
                "tasks": day.rows,
            }
        )
        return
    queues = day.queue if day.settle_queue == day.queue else f"{day.queue}, {day.settle_queue}"
    table = Table(title=f"Decisions and settlements of {day.race_date} on {queues}")
    for column in ("race", "step", "at", "task", "state"):
        table.add_column(column, overflow="fold")
    for row in day.rows:
        state = "queued" if row["created"] else "already queued"
        at = row["schedule_time"][11:19]
        table.add_row(row["race_id"], row["step"], at, row["task"], state)
    out.print(table)
    created = sum(1 for r in day.rows if r["created"])
    races = len({r["race_id"] for r in day.rows})
    out.print(f"{races} races, {len(day.rows)} tasks: {created} queued now", highlight=False)


def run(
    ctx: typer.Context,
    date: RaceDateOption = None,
    twin: Annotated[
        bool,
        typer.Option(
            "--twin",
            help="Play a simulated world's race day from a local twin of netkeiba, in "
            "simulated time, with its own dataset, model and paper ledger.",
        ),
    ] = False,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Replay the day from the pages recorded for it in the dataset, each as it "
            "stood at the moment, in simulated time, on a copy of the dataset and a paper "
            "ledger of its own; resumes a stopped replay.",
        ),
    ] = False,
    enqueue: Annotated[
        bool,
        typer.Option(
            "--enqueue",
            help="With --date: plan the live day and put two named tasks per race on the Cloud "
            "Tasks queues (tasks section): its decision, due at its decision time, and its "
            "settlement, due at its first settlement try; run twice, it adds nothing.",
        ),
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="With --replay: start the replay over.")
    ] = False,
    pace: Annotated[
        float | None,
        typer.Option(
            "--pace",
            min=1.0,
            help="With --replay: simulated seconds per wall second (60: a minute a second), "
            "to watch it with keiba serve --replay; default as fast as it can.",
        ),
    ] = None,
    account: Annotated[
        str, typer.Option("--account", help="Ledger account to buy with (live).")
    ] = "main",
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a race day: card, odds, decisions, paper purchases and settlement per race.

    A live race day and a replay need --date; with --twin it defaults to the simulated world's
    busiest day.
    """
    config = config_of(ctx, {}, dataset=dataset)
    if enqueue:
        if twin or replay or date is None:
            raise typer.BadParameter("queue a live day: --date only", param_hint="--enqueue")
        print_tasks(enqueue_live_day(config, account, date), as_json)
        return
    if fresh and not replay:
        raise typer.BadParameter("only a replay can start over", param_hint="--fresh")
    if pace is not None and not replay:
        raise typer.BadParameter("only a replay keeps a pace", param_hint="--pace")
    if twin:
        if dataset is not None:
            raise typer.BadParameter("--twin keeps a dataset of its own", param_hint="--dataset")
        if replay:
            raise typer.BadParameter("replay a twin's day with --dataset", param_hint="--replay")
        day = twin_day(config, date)
    elif replay:
        if date is None:
            raise typer.BadParameter("a replay needs the recorded day", param_hint="--date")
        day = replay_day(config, date, fresh=fresh, pace=pace)
    else:
        if date is None:
            raise typer.BadParameter("a live race day needs its date", param_hint="--date")
        day = live_day(config, account, date)
    if as_json:
        print_json(
            {
                "race_date": day.race_date.isoformat(),
                "model_version": day.model_version,
                "release_id": day.release_id,
                "balance_yen": day.balance_yen,
                "account": day.account,
                "journal": day.journal,
                "races": day.rows(),
                "alerts": [
                    {"kind": a.kind, "severity": a.severity.value, "message": a.message}
                    for a in day.alerts
                ],
            }
        )
        return
    print_day(day)
